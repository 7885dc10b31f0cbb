using AssocConv.Csg;

namespace AssocConv.Models;

/// <summary>What every model of the zoo is built from.</summary>
public sealed record ModelOptions
{
    /// <summary>Build the plain counterpart: every convolution ordinary, no generator.</summary>
    public bool Plain { get; init; }

    /// <summary>The generator's options; null takes the architecture's default.</summary>
    public GeneratorOptions? Generator { get; init; }

    /// <summary>
    /// An existing generator to share (e.g. a pretrained, frozen one); it must match the slice shape,
    /// code size and layout asked for.
    /// </summary>
    public ConvolutionalSliceGenerator? SharedGenerator { get; init; }

    /// <summary>Which convolutions are associative. Default: the reference implementation's choice.</summary>
    public AssociativeSelection Selection { get; init; } = AssociativeSelection.Reference;

    /// <summary>Number of classes; null takes the architecture's default (10 for CIFAR models, 1000 for ImageNet
    /// ones).</summary>
    public int? NumClasses { get; init; }

    /// <summary>Channels of the input images. Default 3.</summary>
    public int InputChannels { get; init; } = 3;

    /// <summary>
    /// Batch-norm after each convolution (default). Only the small CNN can leave it out: without it, data-parallel
    /// training computes exactly the single-process gradients, which is what a check of the exchange needs.
    /// </summary>
    public bool BatchNorm { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> for impossible values.</summary>
    public ModelOptions Validate(string model)
    {
        if (NumClasses < 1) throw new ArgumentException($"{model}: number of classes must be at least 1, " +
            $"got {NumClasses}");
        if (InputChannels < 1) throw new ArgumentException($"{model}: input channels must be at least 1, got " +
            $"{InputChannels}");
        if (!BatchNorm && model != SmallCnn.Name)
            throw new ArgumentException($"{model}: only {SmallCnn.Name} can be built without batch-norm");
        if (Plain && SharedGenerator is not null)
            throw new ArgumentException($"{model}: a plain model has no generator to share");
        return this;
    }
}
