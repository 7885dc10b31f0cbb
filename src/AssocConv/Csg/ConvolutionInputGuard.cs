using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>
/// Returns the form in which a convolution's input should reach libtorch: the input itself, or a copy of it (in another
/// memory format, say) when libtorch's kernel for this configuration is known to compute it wrongly. The method does
/// not need one; whoever runs a model may set one on its layers (<c>ConvolutionGuard.Protect</c> does).
/// </summary>
public delegate Tensor ConvolutionInputGuard(Tensor input, Tensor weight, long[] stride, long[] padding,
    long[] dilation, long groups);
