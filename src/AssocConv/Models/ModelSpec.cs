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
    public GeneratorOptions? Generator => Options.Plain ? null : Options.Generator ?? ModelZoo.Get(Name).DefaultGenerator;

    /// <summary>A one-line description, e.g. <c>resnet20 (slice 16x16x3x3, code 72, ...)</c>.</summary>
    public string Describe() => Options.Plain ? $"{Name} (plain)" :
        $"{Name} ({Generator!.Describe()}{(Options.Selection == AssociativeSelection.Reference ? "" : $", {Options.Selection.ToName()} associative")})";

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
        };
    }

    /// <summary>From <see cref="ToJson"/>'s output.</summary>
    /// <exception cref="FormatException">A field is missing or invalid.</exception>
    public static ModelSpec FromJson(JsonNode json)
    {
        try
        {
            string name = (string)json["name"]!;
            bool plain = (bool)json["plain"]!;
            var options = new ModelOptions
            {
                Plain = plain,
                NumClasses = (int?)json["classes"],
                InputChannels = (int)json["input_channels"]!,
            };
            if (!plain)
            {
                options = options with
                {
                    Generator = new GeneratorOptions
                    {
                        Slice = SliceShape.Parse((string)json["slice"]!),
                        CodeSize = (int)json["code_size"]!,
                        Layout = Enum.Parse<SliceLayout>((string)json["layout"]!),
                        Init = Enum.Parse<GeneratorInit>((string)json["init"]!),
                        CodeInit = Enum.Parse<CodeInit>((string)json["code_init"]!),
                        Frozen = (bool)json["frozen"]!,
                    },
                    Selection = AssociativeSelectionNames.Parse((string)json["associative"]!),
                };
            }
            return new ModelSpec(name, options);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidCastException or ArgumentException or InvalidOperationException)
        {
            throw new FormatException($"model description is incomplete or invalid: {e.Message}", e);
        }
    }
}
