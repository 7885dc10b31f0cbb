using System.Runtime.InteropServices;
using AssocConv.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.OneDnn26;

/// <summary>
/// A bias-free 2-d convolution whose forward pass and both gradients run on oneDNN 2 (<see cref="OneDnn26Library"/>):
/// a custom autograd function over channels-last activations, taking the weight of the <see cref="Conv2d"/> it replaces.
/// </summary>
internal sealed class OneDnn26Conv2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly long stride, padding;

    public OneDnn26Conv2d(Conv2d replaced) : base(nameof(OneDnn26Conv2d))
    {
        if (replaced.bias is not null || replaced.groups != 1 || replaced.stride[0] != replaced.stride[1]
            || replaced.padding is not { } p || p[0] != p[1] || replaced.dilation.Any(d => d != 1))
            throw new ArgumentException("only bias-free, ungrouped, undilated convolutions with square stride and padding");
        weight = replaced.weight!;
        stride = replaced.stride[0];
        padding = p[0];
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Function.apply(x, weight, stride, padding);

    private sealed class Function : autograd.SingleTensorFunction<Function>
    {
        public override string Name => nameof(OneDnn26Conv2d);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, w) = (ChannelsLast((Tensor)vars[0]), ((Tensor)vars[1]).contiguous());
            var shape = Shape(x, w, (long)vars[2], (long)vars[3]);
            var y = NewChannelsLast(shape.N, shape.O, shape.OutH, shape.OutW);
            OneDnn26Library.Forward(Data(x), Data(w), Data(y), shape);
            ctx.save_for_backward([x, w]);
            ctx.save_data("shape", shape);
            return y;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradient)
        {
            var saved = ctx.get_saved_variables();
            var (x, w) = (saved[0], saved[1]);
            var shape = (ConvShape)ctx.get_data("shape");
            var dy = ChannelsLast(gradient);
            var dx = NewChannelsLast(shape.N, shape.C, shape.H, shape.W);
            var dw = empty_like(w);
            OneDnn26Library.BackwardData(Data(dy), Data(w), Data(dx), shape);
            OneDnn26Library.BackwardWeights(Data(x), Data(dy), Data(dw), shape);
            return [dx, dw, null!, null!];
        }
    }

    private static ConvShape Shape(Tensor x, Tensor w, long stride, long padding)
    {
        if (x.dtype != ScalarType.Float32 || w.dtype != ScalarType.Float32 || x.ndim != 4 || w.shape[1] != x.shape[1] || w.shape[2] != w.shape[3])
            throw new ArgumentException($"float32 [N, C, H, W] input and [O, C, k, k] weight expected, got {x.dtype} [{string.Join(", ", x.shape)}] and {w.dtype} [{string.Join(", ", w.shape)}]");
        return new ConvShape(x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[0], w.shape[2], stride, padding);
    }

    private static Tensor ChannelsLast(Tensor t) => t.IsChannelsLast() ? t : t.ToMemoryFormat(MemoryFormat.ChannelsLast);

    private static Tensor NewChannelsLast(long n, long c, long h, long w) => empty(n, h, w, c).permute(0, 3, 1, 2);

    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>The first element's address (the tensors here are dense in their layout).</summary>
    private static IntPtr Data(Tensor t) => THSTensor_data(t.Handle);
}
