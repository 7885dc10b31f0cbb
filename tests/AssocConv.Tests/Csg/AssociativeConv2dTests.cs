using AssocConv.Csg;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Csg;

public class AssociativeConv2dTests
{
    private static ConvolutionalSliceGenerator Generator(int sliceOut = 4, int sliceIn = 4, int code = 5,
        SliceLayout layout = SliceLayout.Reference) =>
        new(new GeneratorOptions { Slice = new SliceShape(sliceOut, sliceIn), CodeSize = code, Layout = layout });

    public static TheoryData<int, int, int, int, int, int, int, bool> ConvCases => new()
    {
        // in, out, kernel, stride, padding, dilation, groups, bias
        { 6, 10, 3, 1, 1, 1, 1, false },
        { 8, 8, 3, 2, 1, 1, 1, true },
        { 8, 12, 3, 1, 2, 2, 2, false },
        { 6, 6, 3, 1, 1, 1, 6, false },
        { 5, 7, 1, 1, 0, 1, 1, true },
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Forward_equals_functional_conv2d_with_the_generated_kernel(int inC, int outC, int k, int stride,
        int padding, int dilation, int groups, bool bias)
    {
        torch.manual_seed(11);
        var layer = new AssociativeConv2d(Generator(), inC, outC, k, stride, padding, dilation, groups, bias);
        using var x = torch.randn(2, inC, 9, 9);
        using var kernel = layer.GenerateKernel();
        using var expected = nn.functional.conv2d(x, kernel, layer.Bias, new long[] { stride }, new long[] { padding },
            new long[] { dilation }, groups);
        using var actual = layer.call(x);
        Assert.True(MaxAbsDifference(expected, actual) < 1e-6);
    }

    [Theory]
    [InlineData(SliceLayout.Reference, 4, 4)]
    [InlineData(SliceLayout.Blocked, 3, 5)]
    public void Gradients_of_codes_and_generator_match_finite_differences(SliceLayout layout, int sliceOut, int sliceIn)
    {
        torch.manual_seed(5);
        var generator = Generator(sliceOut, sliceIn, code: 4, layout: layout);
        var layer = new AssociativeConv2d(generator, 6, 7, 3, stride: 1, padding: 1, bias: true);
        generator.to(float64);
        layer.to(float64);
        using var x = torch.randn(2, 6, 5, 5, dtype: float64);
        using var weights = torch.randn(2, 7, 5, 5, dtype: float64);

        double Loss()
        {
            using var _ = torch.no_grad();
            using var y = layer.call(x);
            using var l = (y * weights).sum();
            return l.item<double>();
        }

        using (var y = layer.call(x))
        using (var loss = (y * weights).sum())
            loss.backward();

        foreach (var p in new[] { layer.Code, generator.Weight })
        {
            var analytic = Values(p.grad!);
            int n = (int)p.numel();
            // every code entry; a spread of generator entries
            int step = Math.Max(1, n / 150);
            using var flat = p.detach().view(-1);
            for (int i = 0; i < n; i += step)
            {
                const double h = 1e-6;
                double original;
                using (torch.no_grad())
                {
                    original = flat[i].item<double>();
                    flat[i].fill_(original + h);
                }
                double plus = Loss();
                using (torch.no_grad()) flat[i].fill_(original - h);
                double minus = Loss();
                using (torch.no_grad()) flat[i].fill_(original);
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-6 * Math.Max(1, Math.Abs(numeric)),
                    $"element {i}: autograd {analytic[i]}, finite difference {numeric}");
            }
        }
    }

    [Fact]
    public void Kernel_larger_than_the_slice_kernel_is_refused_naming_layer_and_numbers()
    {
        var e = Assert.Throws<ArgumentException>(() => new AssociativeConv2d(Generator(), 4, 4, 5,
            name: "stage_2.0.conv_a"));
        Assert.Contains("stage_2.0.conv_a", e.Message);
        Assert.Contains("5x5", e.Message);
        Assert.Contains("3x3", e.Message);
    }

    [Theory]
    [InlineData(0, 4, 1)]
    [InlineData(4, 0, 1)]
    [InlineData(6, 4, 4)]
    public void Impossible_channel_counts_are_refused(int inC, int outC, int groups)
    {
        var e = Assert.Throws<ArgumentException>(() => new AssociativeConv2d(Generator(), inC, outC, 3, groups: groups,
            name: "layer7"));
        Assert.Contains("layer7", e.Message);
        Assert.Contains($"{inC}->{outC}", e.Message);
    }

    [Fact]
    public void Non_square_slice_with_the_reference_layout_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Generator(4, 8, layout: SliceLayout.Reference));
        Assert.Contains("4x8x3x3", e.Message);
        Assert.Contains("Blocked", e.Message);
    }

    [Fact]
    public void Wrong_input_channels_fail_with_the_expected_shape()
    {
        var layer = new AssociativeConv2d(Generator(), 4, 4, 3, name: "convX");
        using var x = torch.randn(1, 5, 8, 8);
        var e = Assert.Throws<ArgumentException>(() => layer.call(x));
        Assert.Contains("convX", e.Message);
        Assert.Contains("4", e.Message);
    }

    [Fact]
    public void Device_and_dtype_follow_the_model()
    {
        var generator = Generator();
        var layer = new AssociativeConv2d(generator, 4, 4, 3, padding: 1);
        layer.eval();
        using (torch.no_grad())
        using (var y = layer.call(torch.randn(1, 4, 6, 6))) Assert.Equal(ScalarType.Float32, y.dtype);
        generator.to(float64);
        layer.to(float64);
        using (torch.no_grad())
        using (var y = layer.call(torch.randn(1, 4, 6, 6, dtype: float64))) Assert.Equal(ScalarType.Float64, y.dtype);
    }
}
