using AssocConv.Csg;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// An ordinary convolution computed in a lower precision: its input, weight and bias are rounded to
/// <see cref="ComputeType"/> for the convolution alone and the result comes back in the input's type, as PyTorch's CPU
/// autocast does. It owns the <see cref="Conv2d"/> it stands in for and registers that module's very parameters under
/// the same names, so state dicts, checkpoints and optimisers see no difference.
/// </summary>
public sealed class LowPrecisionConv2d : nn.Module<Tensor, Tensor>
{
    // Named exactly as registered: TorchSharp's to() replaces a parameter by finding the field of that name.
    private Parameter weight;
    private Parameter? bias;
    private readonly long[] _stride, _padding, _dilation;
    private readonly long _groups;

    /// <summary>Stands in for <paramref name="convolution"/>, computing in <paramref name="computeType"/>.</summary>
    /// <exception cref="NotSupportedException">The convolution pads other than with zeros, pads 'same', or is
    /// transposed.</exception>
    public LowPrecisionConv2d(Conv2d convolution, ScalarType computeType) : base(convolution.GetName())
    {
        if (!CanStandIn(convolution))
            throw new NotSupportedException("only zero-padded, explicitly padded, non-transposed convolutions can " +
                "compute in a lower precision");
        Original = convolution;
        ComputeType = computeType;
        weight = convolution.weight ?? throw new ArgumentException("the convolution has no weight");
        bias = convolution.bias;
        (_stride, _padding, _dilation,
            _groups) = (convolution.stride, convolution.padding!, convolution.dilation, convolution.groups);
        register_parameter(nameof(weight), weight);
        if (bias is not null) register_parameter(nameof(bias), bias);
    }

    /// <summary>
    /// Whether a <see cref="LowPrecisionConv2d"/> can stand in for <paramref name="convolution"/>: explicit zero
    /// padding
    /// and not transposed ('same' padding and other padding modes reach libtorch in another form).
    /// </summary>
    public static bool CanStandIn(Conv2d convolution) => GuardedConv2d.ReachesConv2dAsIs(convolution);

    /// <summary>The convolution this one stands in for (it shares its parameters).</summary>
    public Conv2d Original { get; }

    /// <summary>The type the convolution computes in.</summary>
    public ScalarType ComputeType { get; }

    /// <summary>The convolution's weight (shared with <see cref="Original"/>).</summary>
    public Parameter Weight => weight;

    /// <summary>Passes the input on to libtorch in the form it computes right (see <see
    /// cref="ConvolutionInputGuard"/>); none by default.</summary>
    public ConvolutionInputGuard? InputGuard { get; set; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) =>
        LayerConvolution.Compute(input, weight, bias, _stride, _padding, _dilation, _groups, ComputeType, InputGuard);
}
