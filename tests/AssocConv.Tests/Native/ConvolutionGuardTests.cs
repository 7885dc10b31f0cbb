using AssocConv.Csg;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.Tensors;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Native;

/// <summary>
/// The guard against convolutions libtorch computes wrongly, with faults injected for 2x2 kernels with 16 or 32
/// output channels (no model uses 2x2 kernels, so tests running alongside are unaffected).
/// </summary>
public sealed class ConvolutionGuardTests : IDisposable
{
    private readonly IDisposable _fault = ConvolutionGuard.InjectFaultForTests(Faulty);

    public void Dispose() => _fault.Dispose();

    /// <summary>Like the oneDNN fault seen on a real machine: the last output channel is wrong, here in channels-last
    /// only
    /// (16 output channels) or in both formats (32).</summary>
    private static Tensor? Faulty(Tensor x, Tensor w, long[] stride, long[] padding, long[] dilation, long groups)
    {
        bool wrong = w.shape[2] == 2 && (w.shape[0] == 32 || (w.shape[0] == 16 && x.IsChannelsLast()));
        if (!wrong) return null;
        var y = nn.functional.conv2d(x, w, strides: stride, padding: padding, dilation: dilation, groups: groups);
        var lastChannel = zeros(1, w.shape[0], 1, 1);
        lastChannel[0, w.shape[0] - 1] = 0.5;
        return y + lastChannel;
    }

    [Fact]
    public void A_convolution_wrong_in_channels_last_runs_in_contiguous_format_and_is_reported()
    {
        var reported = new List<string>();
        void Collect(string finding) => reported.Add(finding);
        ConvolutionGuard.Corrected += Collect;
        try
        {
            torch.manual_seed(1);
            using var x = randn(2, 16, 6, 6).ToMemoryFormat(MemoryFormat.ChannelsLast).requires_grad_();
            using var w = randn(16, 16, 2, 2).requires_grad_();
            using var prepared = ConvolutionGuard.Prepare(x, w, [1, 1], [1, 1], [1, 1], 1);
            Assert.True(prepared.IsContiguousNchw());
            var finding = Assert.Single(reported, f => f.Contains("input 2x16x6x6 (channels-last), weight 16x16x2x2"));
            Assert.Contains("forward off by", finding);
            Assert.Contains("computed in contiguous instead", finding);
            Assert.Contains(finding, ConvolutionGuard.Findings);

            // the copy carries gradients back to the channels-last input, and the convolution on it is right
            using var y = nn.functional.conv2d(prepared, w, padding: [1, 1]);
            using var reference = nn.functional.conv2d(x.detach().to(float64), w.detach().to(float64), padding: [1, 1]);
            Assert.True(MaxAbsDifference(y.detach().to(float64),
                reference) < 1e-4 * reference.abs().max().item<double>());
            y.sum().backward();
            using var x64 = x.detach().to(float64).requires_grad_();
            nn.functional.conv2d(x64, w.detach().to(float64), padding: [1, 1]).sum().backward();
            Assert.True(MaxAbsDifference(x.grad!.to(float64), x64.grad!) < 1e-4 * x64.grad!.abs().max().item<double>());

            // decided once: the second time there is nothing new to report
            using var again = ConvolutionGuard.Prepare(x, w, [1, 1], [1, 1], [1, 1], 1);
            Assert.True(again.IsContiguousNchw());
            Assert.Single(reported, f => f.Contains("input 2x16x6x6 (channels-last), weight 16x16x2x2"));
        }
        finally
        {
            ConvolutionGuard.Corrected -= Collect;
        }
    }

    [Fact]
    public void A_bfloat16_convolution_is_checked_with_its_own_tolerance()
    {
        var reported = new List<string>();
        void Collect(string finding) => reported.Add(finding);
        ConvolutionGuard.Corrected += Collect;
        try
        {
            torch.manual_seed(2);
            using var x = randn(2, 16, 7, 7).to(bfloat16).ToMemoryFormat(MemoryFormat.ChannelsLast).requires_grad_();
            using var w = randn(16, 16, 2, 2).to(bfloat16).requires_grad_();
            using var prepared = ConvolutionGuard.Prepare(x, w, [1, 1], [1, 1], [1, 1], 1);
            Assert.True(prepared.IsContiguousNchw());
            var finding = Assert.Single(reported,
                f => f.Contains("bfloat16 input 2x16x7x7 (channels-last), weight 16x16x2x2"));
            Assert.Contains("forward off by", finding);

            // a right one passes: bfloat16's rounding stays within its tolerance
            using var right =
                randn(2, 16, 7, 7).to(bfloat16).ToMemoryFormat(MemoryFormat.ChannelsLast).requires_grad_();
            using var kernel = randn(24, 16, 3, 3).to(bfloat16).requires_grad_();
            using var kept = ConvolutionGuard.Prepare(right, kernel, [1, 1], [1, 1], [1, 1], 1);
            Assert.True(kept.IsChannelsLast());
            Assert.DoesNotContain(reported, f => f.Contains("weight 24x16x3x3"));
        }
        finally
        {
            ConvolutionGuard.Corrected -= Collect;
        }
    }

    [Fact]
    public void A_convolution_wrong_in_both_formats_is_refused()
    {
        using var x = randn(2, 16, 5, 5);
        using var w = randn(32, 16, 2, 2);
        var e = Assert.Throws<InvalidOperationException>(() => ConvolutionGuard.Prepare(x, w, [1, 1], [1, 1], [1, 1],
            1));
        Assert.Contains("wrongly in both memory formats", e.Message);
        Assert.Contains("weight 32x16x2x2", e.Message);
        Assert.Contains("ONEDNN_MAX_CPU_ISA=AVX2", e.Message);
    }

    [Fact]
    public void A_convolution_computed_right_keeps_its_input_and_leaves_the_random_stream_alone()
    {
        using var x = randn(3, 16, 5, 5).ToMemoryFormat(MemoryFormat.ChannelsLast);
        using var w = randn(6, 16, 1, 1);
        torch.manual_seed(3);
        using var expected = randn(4);
        torch.manual_seed(3);
        var prepared = ConvolutionGuard.Prepare(x, w, [1, 1], [0, 0], [1, 1], 1);   // first use: checked now
        using var drawn = randn(4);
        Assert.Same(x, prepared);
        Assert.Equal(Values(expected), Values(drawn));
    }

    [Fact]
    public void Protect_puts_the_check_in_front_of_a_conv2d()
    {
        using var conv = nn.Conv2d(16, 16, 2, padding: 1, bias: false);
        ConvolutionGuard.Protect(conv);
        ConvolutionGuard.Protect(conv);   // once is enough; a second call adds nothing
        using var x = randn(3, 16, 6, 6).ToMemoryFormat(MemoryFormat.ChannelsLast);
        using var y = conv.call(x);
        // the input was turned contiguous before libtorch saw it, so its output is contiguous too
        Assert.True(y.IsContiguousNchw());
        Assert.False(y.IsChannelsLast());
        Assert.Single(ConvolutionGuard.Findings, f => f.Contains("input 3x16x6x6 (channels-last), weight 16x16x2x2"));
    }

    [Fact]
    public void Protect_guards_associative_and_low_precision_layers_and_materialize_keeps_the_guard()
    {
        using var generator = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(16, 16),
            CodeSize = 8 });
        var layer = new AssociativeConv2d(generator, 16, 16, kernelSize: 2, padding: 1);   // the model owns it
        using var x = randn(5, 16, 6, 6).ToMemoryFormat(MemoryFormat.ChannelsLast);
        // unprotected, the method runs the convolution as it is: channels-last in, channels-last out, nothing checked
        Assert.Null(layer.InputGuard);
        using (var y = layer.call(x)) Assert.True(y.IsChannelsLast());
        Assert.DoesNotContain(ConvolutionGuard.Findings,
            f => f.Contains("input 5x16x6x6 (channels-last), weight 16x16x2x2"));

        using var model = nn.Sequential(("conv", layer));
        ConvolutionGuard.Protect(model);
        Assert.NotNull(layer.InputGuard);
        using (var y = layer.call(x)) Assert.True(y.IsContiguousNchw());
        Assert.Single(ConvolutionGuard.Findings, f => f.Contains("input 5x16x6x6 (channels-last), weight 16x16x2x2"));

        // materialized, the plain convolution that replaces the layer is guarded too
        Materializer.Materialize(model);
        using var x7 = randn(7, 16, 6, 6).ToMemoryFormat(MemoryFormat.ChannelsLast);
        using (var y = model.call(x7)) Assert.True(y.IsContiguousNchw());
        Assert.Single(ConvolutionGuard.Findings, f => f.Contains("input 7x16x6x6 (channels-last), weight 16x16x2x2"));

        // a convolution computing in bfloat16 is guarded once protected
        var conv = nn.Conv2d(16, 16, 2, padding: 1, bias: false);   // its parameters belong to the stand-in
        using var lowPrecision = new LowPrecisionConv2d(conv, ScalarType.BFloat16);
        Assert.Null(lowPrecision.InputGuard);
        ConvolutionGuard.Protect(lowPrecision);
        using var x9 = randn(9, 16, 6, 6).ToMemoryFormat(MemoryFormat.ChannelsLast);
        using (var y = lowPrecision.call(x9)) Assert.True(y.IsContiguousNchw());
        Assert.Single(ConvolutionGuard.Findings,
            f => f.Contains("bfloat16 input 9x16x6x6 (channels-last), weight 16x16x2x2"));
    }
}
