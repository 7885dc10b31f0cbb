namespace AssocConv.Csg;

/// <summary>
/// Everything that defines a model's <see cref="ConvolutionalSliceGenerator"/> and how its
/// associative layers use it.
/// </summary>
public sealed record GeneratorOptions
{
    /// <summary>The paper's default for CIFAR ResNet and DenseNet: 12x12x3x3 slices, code size 72.</summary>
    public static GeneratorOptions Default { get; } = new();

    /// <summary>Shape of one generated slice. Default 12x12x3x3.</summary>
    public SliceShape Slice { get; init; } = new(12, 12);

    /// <summary>Length of one code vector (the generator's input size). Default 72.</summary>
    public int CodeSize { get; init; } = 72;

    /// <summary>How slices fill a layer's kernel. Default <see cref="SliceLayout.Reference"/>.</summary>
    public SliceLayout Layout { get; init; } = SliceLayout.Reference;

    /// <summary>Initialisation of the generator's weight. Default Kaiming-normal.</summary>
    public GeneratorInit Init { get; init; } = GeneratorInit.KaimingNormal;

    /// <summary>Initialisation of every layer's codes. Default: the reference ResNet's normal(0.001, 1).</summary>
    public CodeInit CodeInit { get; init; } = CodeInit.ReferenceResNet;

    /// <summary>
    /// Whether the generator is frozen (no gradient, not trainable). <c>null</c>, the default, freezes
    /// exactly the <see cref="GeneratorInit.Binary"/> generator, as the reference does.
    /// </summary>
    public bool? Frozen { get; init; }

    /// <summary>The effective frozen flag.</summary>
    public bool IsFrozen => Frozen ?? Init == GeneratorInit.Binary;

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad number.</summary>
    public GeneratorOptions Validate()
    {
        Slice.Validate();
        if (CodeSize < 1)
            throw new ArgumentException($"code size must be at least 1, got {CodeSize}");
        if (Layout == SliceLayout.Reference && !Slice.IsSquare)
            throw new ArgumentException(
                $"the Reference slice layout needs a square slice (out = in), got {Slice}; use the Blocked layout " +
                    "for other shapes");
        return this;
    }

    /// <summary>A one-line description, e.g. <c>slice 12x12x3x3, code 72, Reference layout</c>.</summary>
    public string Describe() =>
        $"slice {Slice}, code {CodeSize}, {Layout} layout, {Init} " +
            $"init{(CodeInit == CodeInit.ReferenceResNet ? "" : $", {CodeInit} codes")}{(IsFrozen ? ", frozen" : "")}";
}
