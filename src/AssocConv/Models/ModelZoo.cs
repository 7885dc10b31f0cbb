using System.Text.RegularExpressions;
using AssocConv.Csg;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>One architecture of the zoo.</summary>
/// <param name="Name">Registry name, e.g. <c>resnet56</c>.</param>
/// <param name="Description">One line for listings.</param>
/// <param name="DefaultGenerator">The generator the architecture uses unless told otherwise.</param>
/// <param name="Build">Builds the model from options.</param>
public sealed record ModelEntry(string Name, string Description, GeneratorOptions DefaultGenerator,
    Func<ModelOptions, nn.Module<Tensor, Tensor>> Build)
{
    /// <summary>The family (one model file) it belongs to, e.g. <c>cifar-resnet</c>; listed entries of a family
    /// smallest first.</summary>
    public string Family { get; init; } = Name;

    /// <summary>The height and width of the images the architecture is made for (its first stages assume
    /// them).</summary>
    public int InputSize { get; init; } = 32;

    /// <summary>The classes it predicts unless <see cref="ModelOptions.NumClasses"/> says otherwise.</summary>
    public int Classes { get; init; } = 10;
}

/// <summary>
/// Models by name: architecture here, weights elsewhere. Besides the listed names, any CIFAR ResNet
/// depth 6n+2 (<c>resnet164</c>, <c>resnet1202</c>) and any DenseNet-BC depth 6n+4 and growth rate
/// (<c>densenet-bc-190-40</c>) resolve.
/// </summary>
public static partial class ModelZoo
{
    private static readonly ModelEntry[] Listed =
    [
        new(SmallCnn.Name, "5-conv CNN for quick experiments (first conv ordinary)",
            SmallCnn.DefaultGenerator, o => new SmallCnn(o)),
        .. CifarResNet.ListedDepths.Select(CifarResNetEntry),
        .. DenseNetBC.ListedConfigurations.Select(c => DenseNetEntry(c.Depth, c.Growth)),
        new(MobileNetV2.Name, "MobileNetV2 for CIFAR; each block's 1x1 expansion generated",
            MobileNetV2.DefaultGenerator, o => new MobileNetV2(o)),
        new(ShuffleNetV2.Name, "ShuffleNetV2 (net size 0.5) for CIFAR; final 1x1 conv 192->1024 generated",
            ShuffleNetV2.DefaultGenerator, o => new ShuffleNetV2(o)),
        .. ImageNetResNet.ListedDepths.Select(ImageNetResNetEntry),
    ];

    private static readonly Dictionary<string, ModelEntry> ByName =
        Listed.ToDictionary(e => e.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The listed models, in listing order (families by depth).</summary>
    public static IReadOnlyList<ModelEntry> All => Listed;

    /// <summary>The entry for <paramref name="name"/>: a listed one, or any valid CIFAR ResNet or DenseNet-BC
    /// configuration.</summary>
    /// <exception cref="ArgumentException">No model has that name, or its depth or growth rate is impossible;
    /// the message says which names are valid.</exception>
    public static ModelEntry Get(string name)
    {
        // beyond the deepest published configurations, a name would only exhaust memory
        const int MaxResNetDepth = 2_000, MaxDenseNetDepth = 400, MaxGrowth = 512;
        name = name?.Trim() ?? "";
        if (ByName.TryGetValue(name, out var entry)) return entry;
        if (ResNetName().Match(name) is { Success: true } r)
        {
            int depth = ParseNumber(name, r.Groups[1].Value);
            if (depth < 8 || (depth - 2) % 6 != 0 || depth > MaxResNetDepth)
                throw new ArgumentException($"'{name}': a CIFAR ResNet's depth is 6n+2 (20, 32, 44, 56, 110, 164, " +
                    $"1202, ...), at most {MaxResNetDepth}");
            return CifarResNetEntry(depth);
        }
        if (DenseNetName().Match(name) is { Success: true } d)
        {
            int depth = ParseNumber(name, d.Groups[1].Value), growth = ParseNumber(name, d.Groups[2].Value);
            if (depth < 10 || (depth - 4) % 6 != 0 || growth < 1 || depth > MaxDenseNetDepth || growth > MaxGrowth)
                throw new ArgumentException(
                    $"'{name}': DenseNet-BC needs depth 6n+4 (40, 100, 190, ...) up to {MaxDenseNetDepth} and a " +
                        $"growth rate from 1 to {MaxGrowth}");
            return DenseNetEntry(depth, growth);
        }
        throw new ArgumentException(
            $"unknown model '{name}'; known models: {string.Join(", ", Listed.Select(e => e.Name))} " +
            "(also resnetN for any N = 6n+2 and densenet-bc-DEPTH-GROWTH for any depth 6n+4)");
    }

    /// <summary>Builds the model <paramref name="name"/>.</summary>
    public static nn.Module<Tensor, Tensor> Create(string name, ModelOptions? options = null) =>
        Get(name).Build(options ?? new ModelOptions());

    private static ModelEntry CifarResNetEntry(int depth) =>
        new($"resnet{depth}", $"CIFAR ResNet-{depth} (option-A shortcuts); both 3x3 convs of every block generated",
            CifarResNet.DefaultGenerator, o => new CifarResNet(depth, o)) { Family = "cifar-resnet" };

    private static ModelEntry DenseNetEntry(int depth, int growth) =>
        new($"densenet-bc-{depth}-{growth}",
            $"DenseNet-BC for CIFAR, depth {depth}, growth rate {growth}; each bottleneck's 3x3 conv generated",
            DenseNetBC.DefaultGenerator, o => new DenseNetBC(depth, growth, o)) { Family = "densenet-bc" };

    private static ModelEntry ImageNetResNetEntry(int depth) =>
        new($"imagenet-resnet{depth}",
            $"ImageNet ResNet-{depth} (224x224, 1000 classes); {ImageNetResNet.GeneratedConvs(depth)} generated",
            ImageNetResNet.DefaultGenerator, o => new ImageNetResNet(depth, o))
        { Family = "imagenet-resnet", InputSize = 224, Classes = 1000 };

    private static int ParseNumber(string name, string digits) =>
        int.TryParse(digits, out int n) ? n : throw new ArgumentException($"'{name}': {digits} is too large");

    [GeneratedRegex(@"^resnet(\d+)$", RegexOptions.IgnoreCase)]
    private static partial Regex ResNetName();

    [GeneratedRegex(@"^densenet-bc-(\d+)-(\d+)$", RegexOptions.IgnoreCase)]
    private static partial Regex DenseNetName();
}
