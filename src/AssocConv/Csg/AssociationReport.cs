namespace AssocConv.Csg;

/// <summary>How the generator and codes of an associated model start.</summary>
public enum AssociateInit
{
    /// <summary>As the generator options say (a fresh model, to be trained).</summary>
    Random,

    /// <summary>
    /// From the model's current kernels: every selected kernel's slices become rows of one matrix, and its
    /// best rank-<c>CodeSize</c> factorisation (truncated SVD) gives the generator and the codes.
    /// </summary>
    FromWeights,
}

/// <summary>One convolution <see cref="Associator.Associate"/> replaced.</summary>
/// <param name="Path">Module path.</param>
/// <param name="Layer">The associative layer now in its place.</param>
/// <param name="PlainElements">Weights of the kernel it replaced.</param>
/// <param name="RelativeError">With <see cref="AssociateInit.FromWeights"/>, ||generated - original|| / ||original||
/// (Frobenius); otherwise null.</param>
public sealed record AssociatedLayer(string Path, AssociativeConv2d Layer, long PlainElements, double? RelativeError);

/// <summary>A selected convolution that could not be made associative, and why.</summary>
/// <param name="Path">Module path.</param>
/// <param name="Reason">Why it stays ordinary.</param>
public sealed record SkippedConvolution(string Path, string Reason);

/// <summary>What <see cref="Associator.Associate"/> changed.</summary>
/// <param name="Generator">The new generator, registered at the model's root.</param>
/// <param name="Layers">The replaced convolutions, in module order.</param>
/// <param name="Skipped">Selected convolutions left ordinary, with the reason.</param>
/// <param name="TrainableBefore">Trainable parameters before.</param>
/// <param name="TrainableAfter">Trainable parameters after.</param>
/// <param name="RelativeError">With <see cref="AssociateInit.FromWeights"/>, the error over all replaced kernels
/// together; otherwise null.</param>
public sealed record AssociationReport(ConvolutionalSliceGenerator Generator, IReadOnlyList<AssociatedLayer> Layers,
    IReadOnlyList<SkippedConvolution> Skipped, long TrainableBefore, long TrainableAfter, double? RelativeError);
