using AssocConv.Csg;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>One architecture of the zoo.</summary>
/// <param name="Name">Registry name, e.g. <c>small-cnn</c>.</param>
/// <param name="Description">One line for listings.</param>
/// <param name="DefaultGenerator">The generator the architecture uses unless told otherwise.</param>
/// <param name="Build">Builds the model from options.</param>
public sealed record ModelEntry(string Name, string Description, GeneratorOptions DefaultGenerator,
    Func<ModelOptions, nn.Module<Tensor, Tensor>> Build);

/// <summary>Models by name: architecture here, weights elsewhere.</summary>
public static class ModelZoo
{
    private static readonly Dictionary<string, ModelEntry> Entries = new(StringComparer.OrdinalIgnoreCase)
    {
        [SmallCnn.Name] = new(SmallCnn.Name, "5-conv CNN for quick experiments (first conv ordinary)",
            SmallCnn.DefaultGenerator, o => new SmallCnn(o)),
    };

    /// <summary>All registered models, by name.</summary>
    public static IReadOnlyCollection<ModelEntry> All => Entries.Values;

    /// <summary>The entry for <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No model has that name; the message lists the known ones.</exception>
    public static ModelEntry Get(string name) =>
        Entries.TryGetValue(name ?? "", out var entry)
            ? entry
            : throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", Entries.Keys)}");

    /// <summary>Builds the model <paramref name="name"/>.</summary>
    public static nn.Module<Tensor, Tensor> Create(string name, ModelOptions? options = null) =>
        Get(name).Build(options ?? new ModelOptions());
}
