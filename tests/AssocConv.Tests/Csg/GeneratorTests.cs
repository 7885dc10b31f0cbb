using AssocConv.Csg;
using AssocConv.Native;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Csg;

public class GeneratorTests
{
    [Fact]
    public void Weight_has_the_shape_of_a_bias_free_linear_from_code_to_slice()
    {
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(16, 16), CodeSize = 72 });
        Assert.Equal(new long[] { 16 * 16 * 9, 72 }, g.Weight.shape);
        Assert.Single(g.parameters());
        using var codes = torch.randn(3, 72);
        using var slices = g.call(codes);
        using var expected = codes.matmul(g.Weight.t());
        Assert.True(MaxAbsDifference(slices, expected) < 1e-5);
    }

    [Fact]
    public void Kaiming_normal_init_has_fan_in_standard_deviation()
    {
        torch.manual_seed(1);
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(16, 16), CodeSize = 72 });
        double std = g.Weight.std().item<float>(), mean = g.Weight.mean().item<float>();
        Assert.InRange(std, Math.Sqrt(2.0 / 72) * 0.97, Math.Sqrt(2.0 / 72) * 1.03);
        Assert.InRange(mean, -0.005, 0.005);
    }

    [Fact]
    public void Linear_default_init_is_uniform_within_one_over_sqrt_fan_in()
    {
        torch.manual_seed(2);
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(16, 16), CodeSize = 64,
            Init = GeneratorInit.LinearDefault });
        double bound = 1.0 / Math.Sqrt(64);
        Assert.True(g.Weight.abs().max().item<float>() <= bound + 1e-7);
        Assert.True(g.Weight.abs().max().item<float>() > bound * 0.99);
    }

    [Fact]
    public void Binary_init_is_plus_minus_half_and_frozen()
    {
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Init = GeneratorInit.Binary });
        var values = Values(g.Weight);
        Assert.All(values, v => Assert.Equal(0.5, Math.Abs(v)));
        Assert.Contains(values, v => v > 0);
        Assert.Contains(values, v => v < 0);
        Assert.True(g.IsFrozen);
        Assert.False(g.Weight.requires_grad);
    }

    [Theory]
    [InlineData(GeneratorInit.KaimingNormal, true)]
    [InlineData(GeneratorInit.Binary, null)]
    public void Frozen_generators_get_no_gradient_and_only_codes_change_in_a_step(GeneratorInit init, bool? frozen)
    {
        torch.manual_seed(9);
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(4, 4), CodeSize = 6,
            Init = init, Frozen = frozen });
        var a = new AssociativeConv2d(g, 3, 8, 3, padding: 1);
        var b = new AssociativeConv2d(g, 8, 4, 3, padding: 1);
        // NCHW with 3, 8 and 4 channels: where libtorch's oneDNN was seen giving NaN gradients here
        ConvolutionGuard.Protect(a);
        ConvolutionGuard.Protect(b);
        var parameters = new[] { g.Weight, a.Code, b.Code };
        var before = parameters.Select(p => p.detach().clone()).ToArray();
        using var optimizer = optim.SGD(parameters, 0.1, momentum: 0.9, weight_decay: 5e-4);

        using (var y = b.call(nn.functional.relu(a.call(torch.randn(2, 3, 6, 6)))))
        using (var loss = y.square().mean())
            loss.backward();
        Assert.Null(g.Weight.grad);
        Assert.NotNull(a.Code.grad);
        optimizer.step();

        Assert.Equal(0.0, MaxAbsDifference(before[0], g.Weight));
        Assert.True(MaxAbsDifference(before[1], a.Code) > 0);
        Assert.True(MaxAbsDifference(before[2], b.Code) > 0);
    }

    [Fact]
    public void Freeze_and_unfreeze_switch_the_gradient()
    {
        var g = new ConvolutionalSliceGenerator();
        Assert.False(g.IsFrozen);
        g.Freeze();
        Assert.True(g.IsFrozen);
        g.Unfreeze();
        Assert.False(g.IsFrozen);
    }

    [Fact]
    public void A_generator_with_another_slice_shape_cannot_be_shared()
    {
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(16, 16), CodeSize = 72 });
        var e = Assert.Throws<ArgumentException>(() =>
            g.EnsureCompatible(new GeneratorOptions { Slice = new SliceShape(12, 12), CodeSize = 72 }, "resnet20"));
        Assert.Contains("resnet20", e.Message);
        Assert.Contains("16x16x3x3", e.Message);
        Assert.Contains("12x12x3x3", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void Code_size_must_be_positive(int code)
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new ConvolutionalSliceGenerator(new GeneratorOptions { CodeSize = code }));
        Assert.Contains(code.ToString(), e.Message);
    }

    [Theory]
    [InlineData("12x12", 12, 12, 3, 3)]
    [InlineData("16x16x1x1", 16, 16, 1, 1)]
    [InlineData(" 8X4 ", 8, 4, 3, 3)]
    public void Slice_shapes_parse(string text, int o, int i, int kh, int kw) =>
        Assert.Equal(new SliceShape(o, i, kh, kw), SliceShape.Parse(text));

    [Theory]
    [InlineData("12")]
    [InlineData("12x")]
    [InlineData("12x12x3")]
    [InlineData("0x12")]
    [InlineData("-1x4")]
    [InlineData("axb")]
    public void Bad_slice_shapes_are_refused(string text) =>
        Assert.Throws<FormatException>(() => SliceShape.Parse(text));
}
