using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>A 2-d convolution as the associative and the low-precision layers compute it.</summary>
internal static class LayerConvolution
{
    /// <summary>
    /// <c>conv2d</c> of <paramref name="input"/> and <paramref name="kernel"/>, the input passed through
    /// <paramref name="guard"/> first when there is one. With <paramref name="computeType"/> (other than the input's),
    /// input, kernel and bias are rounded to it for the convolution alone and the result comes back in the input's
    /// type, as PyTorch's CPU autocast treats a convolution; gradients reach the originals in their own type.
    /// </summary>
    public static Tensor Compute(Tensor input, Tensor kernel, Tensor? bias, long[] stride, long[] padding,
        long[] dilation, long groups, ScalarType? computeType = null, ConvolutionInputGuard? guard = null)
    {
        if (computeType is not { } type || type == input.dtype)
        {
            var x = guard is null ? input : guard(input, kernel, stride, padding, dilation, groups);
            return nn.functional.conv2d(x, kernel, bias, strides: stride, padding: padding, dilation: dilation,
                groups: groups);
        }
        using var scope = NewDisposeScope();
        return Compute(input.to(type), kernel.to(type), bias?.to(type), stride, padding, dilation, groups, guard: guard)
            .to(input.dtype).MoveToOuterDisposeScope();
    }
}
