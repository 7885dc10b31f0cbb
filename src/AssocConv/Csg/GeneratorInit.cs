namespace AssocConv.Csg;

/// <summary>How a <see cref="ConvolutionalSliceGenerator"/>'s weight is initialised.</summary>
public enum GeneratorInit
{
    /// <summary>Kaiming-normal (fan-in, gain sqrt 2), as the reference's CIFAR ResNet does.</summary>
    KaimingNormal,

    /// <summary>PyTorch's default <c>nn.Linear</c> init, as the reference's DenseNet, MobileNetV2 and ShuffleNetV2
    /// do.</summary>
    LinearDefault,

    /// <summary>The sign of a Kaiming-normal draw times 0.5: a random binary (+-0.5) generator, usually
    /// frozen.</summary>
    Binary,
}

/// <summary>How the code matrices of associative layers are initialised.</summary>
public enum CodeInit
{
    /// <summary>Normal with mean 0.001 and standard deviation 1, as the reference's CIFAR ResNet does.</summary>
    ReferenceResNet,

    /// <summary>Standard normal, as the reference's other models do.</summary>
    StandardNormal,

    /// <summary>
    /// Variance-preserving: normal with mean 0 and the standard deviation that gives each generated kernel
    /// He's fan-in scale, sqrt(2 / (in/groups * kh * kw)), through the layer's generator as initialised. The
    /// reference inits give kernels 12-24x that scale; batch-norm then shrinks the relative step every kernel
    /// takes, which is why associative layers learn slower per epoch under the reference recipe.
    /// </summary>
    FanIn,
}
