using System.Text.Json.Nodes;
using AssocConv.Csg;

namespace AssocConv.Models;

/// <summary>
/// Everything needed to rebuild a zoo model (architecture and options, not weights), as stored in
/// checkpoints: <see cref="Build"/> gives the same parameters and names every time.
/// </summary>
/// <param name="Name">Registry name.</param>
/// <param name="Options">The options it was built with (no shared generator).</param>
public sealed record ModelSpec(string Name, ModelOptions Options)
{
    /// <summary>Builds the model.</summary>
    public TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Build() =>
        ModelZoo.Get(Name).Build(Options);

    /// <summary>The generator the model uses (its options or the architecture's default), or null when plain.</summary>
    public GeneratorOptions? Generator => Options.Plain ? null : Options.Generator
        ?? ModelZoo.Get(Name).DefaultGenerator;

    /// <summary>A one-line description, e.g. <c>resnet20 (slice 16x16x3x3, code 72, ...)</c>.</summary>
    public string Describe()
    {
        string norm = Options.BatchNorm ? "" : ", no batch-norm";
        if (Options.Plain) return $"{Name} (plain{norm})";
        string selection = Options.Selection == AssociativeSelection.Reference ? ""
            : $", {Options.Selection.ToName()} associative";
        return $"{Name} ({Generator!.Describe()}{selection}{norm})";
    }

    /// <summary>As JSON.</summary>
    public JsonObject ToJson()
    {
        var g = Generator;
        return new JsonObject
        {
            ["name"] = Name,
            ["plain"] = Options.Plain,
            ["slice"] = g?.Slice.ToString(),
            ["code_size"] = g?.CodeSize,
            ["layout"] = g?.Layout.ToString(),
            ["init"] = g?.Init.ToString(),
            ["code_init"] = g?.CodeInit.ToString(),
            ["frozen"] = g?.IsFrozen,
            ["associative"] = Options.Plain ? null : Options.Selection.ToName(),
            ["classes"] = Options.NumClasses,
            ["input_channels"] = Options.InputChannels,
            ["batch_norm"] = Options.BatchNorm,
        };
    }

    /// <summary>Largest values a stored description may hold: far above any real model, far below what exhausts
    /// memory.</summary>
    public static class Limits
    {
        /// <summary>Classes of the classifier.</summary>
        public const int Classes = 100_000;
        /// <summary>Input channels.</summary>
        public const int InputChannels = 64;
        /// <summary>Elements of the generator's weight: code size times slice elements (the paper's largest is
        /// 295,000).</summary>
        public const long GeneratorElements = 1L << 24;
    }

    /// <summary>From <see cref="ToJson"/>'s output, every field checked for type and range before anything is
    /// built.</summary>
    /// <exception cref="FormatException">A field is missing, of the wrong type or out of range.</exception>
    public static ModelSpec FromJson(JsonNode json)
    {
        try
        {
            string name = (string)json["name"]!;
            ModelZoo.Get(name);   // a known name, with a depth and growth in range
            bool plain = (bool)json["plain"]!;
            var options = new ModelOptions
            {
                Plain = plain,
                NumClasses = (int?)json["classes"],
                InputChannels = (int)json["input_channels"]!,
                BatchNorm = (bool?)json["batch_norm"] ?? true,   // absent from files written before the option
            };
            if (options.NumClasses is < 1 or > Limits.Classes)
                throw new FormatException($"{options.NumClasses} classes is out of range (1 to {Limits.Classes:N0})");
            if (options.InputChannels is < 1 or > Limits.InputChannels)
                throw new FormatException($"{options.InputChannels} input channels is out of range (1 to " +
                    $"{Limits.InputChannels})");
            if (!plain)
            {
                var generator = new GeneratorOptions
                {
                    Slice = SliceShape.Parse((string)json["slice"]!),
                    CodeSize = (int)json["code_size"]!,
                    Layout = ParseEnum<SliceLayout>((string)json["layout"]!),
                    Init = ParseEnum<GeneratorInit>((string)json["init"]!),
                    CodeInit = ParseEnum<CodeInit>((string)json["code_init"]!),
                    Frozen = (bool)json["frozen"]!,
                };
                if (generator.CodeSize < 1 || (long)generator.CodeSize * generator.Slice.Out * generator.Slice.In
                    * generator.Slice.KernelHeight * generator.Slice.KernelWidth > Limits.GeneratorElements)
                    throw new FormatException(
                        $"a generator of code {generator.CodeSize} for slice {generator.Slice} is out of range (1 to " +
                            $"{Limits.GeneratorElements:N0} elements)");
                options = options with { Generator = generator,
                    Selection = AssociativeSelectionNames.Parse((string)json["associative"]!) };
            }
            return new ModelSpec(name, options.Validate(name));
        }
        catch (Exception e) when (e is NullReferenceException or InvalidCastException or ArgumentException
            or InvalidOperationException
            or OverflowException)
        {
            throw new FormatException($"model description is incomplete or invalid: {e.Message}", e);
        }
        catch (FormatException e)
        {
            throw new FormatException($"model description is invalid: {e.Message}", e);
        }
    }

    // only the names: Enum.Parse also takes numbers, which name no member
    private static T ParseEnum<T>(string text) where T : struct, Enum =>
        Enum.TryParse<T>(text, out var value) && Enum.IsDefined(value) ? value
            : throw new FormatException($"'{text}' is not a {typeof(T).Name}");
}
