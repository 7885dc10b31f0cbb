using AssocConv.Csg;
using AssocConv.Native;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Csg;

public class KernelCacheTests
{
    private static (ConvolutionalSliceGenerator, AssociativeConv2d) Layer()
    {
        torch.manual_seed(21);
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(4, 4), CodeSize = 5 });
        var layer = new AssociativeConv2d(g, 4, 6, 3, padding: 1);
        ConvolutionGuard.Protect(layer);   // NCHW with 4 and 6 channels: where libtorch's oneDNN errs on some CPUs
        return (g, layer);
    }

    private static Tensor PlainConv(AssociativeConv2d layer, Tensor x)
    {
        using var k = layer.GenerateKernel();
        return nn.functional.conv2d(x, k, padding: new long[] { 1 });
    }

    [Fact]
    public void Training_regenerates_every_forward()
    {
        var (_, layer) = Layer();
        using var x = torch.randn(1, 4, 5, 5);
        layer.train();
        long before = layer.KernelGenerations;
        for (int i = 0; i < 3; i++) using (layer.call(x)) { }
        Assert.Equal(before + 3, layer.KernelGenerations);
    }

    [Fact]
    public void Evaluation_without_gradients_generates_once()
    {
        var (_, layer) = Layer();
        using var x = torch.randn(1, 4, 5, 5);
        layer.eval();
        using var _ = torch.no_grad();
        long before = layer.KernelGenerations;
        using var first = layer.call(x);
        for (int i = 0; i < 4; i++) using (layer.call(x)) { }
        Assert.Equal(before + 1, layer.KernelGenerations);
        using var expected = PlainConv(layer, x);
        Assert.True(MaxAbsDifference(first, expected) < 1e-6);
    }

    [Fact]
    public void Evaluation_with_gradients_wanted_does_not_cache_and_gradients_flow()
    {
        var (g, layer) = Layer();
        using var x = torch.randn(1, 4, 5, 5);
        layer.eval();
        long before = layer.KernelGenerations;
        using (var y = layer.call(x)) using (var l = y.sum()) l.backward();
        using (var y = layer.call(x)) { }
        Assert.Equal(before + 2, layer.KernelGenerations);
        Assert.NotNull(layer.Code.grad);
        Assert.NotNull(g.Weight.grad);
    }

    [Fact]
    public void A_step_taken_in_evaluation_mode_is_not_hidden_by_a_stale_cache()
    {
        var (g, layer) = Layer();
        using var x = torch.randn(1, 4, 5, 5);
        layer.eval();
        using (torch.no_grad()) using (layer.call(x)) { }            // fills the cache
        using var optimizer = optim.SGD(new[] { g.Weight, layer.Code }, 0.5);
        using (var y = layer.call(x)) using (var l = y.square().sum()) l.backward();
        optimizer.step();
        using var _ = torch.no_grad();
        using var after = layer.call(x);
        using var expected = PlainConv(layer, x);
        Assert.True(MaxAbsDifference(after, expected) < 1e-5);
    }

    [Fact]
    public void Changing_weights_by_hand_needs_invalidation_and_invalidation_works()
    {
        var (g, layer) = Layer();
        var model = nn.Sequential(("conv", layer));
        using var x = torch.randn(1, 4, 5, 5);
        model.eval();
        using var _ = torch.no_grad();
        using var original = layer.call(x);
        g.Weight.mul_(2.0);
        using (var stale = layer.call(x))
            Assert.Equal(0.0, MaxAbsDifference(original, stale));   // the cache is explicit, by design
        model.InvalidateKernels();
        using var fresh = layer.call(x);
        using var expected = PlainConv(layer, x);
        Assert.True(MaxAbsDifference(fresh, expected) < 1e-5);
        Assert.True(MaxAbsDifference(fresh, original) > 1e-3);
    }

    [Fact]
    public void Mode_switch_drops_the_cache()
    {
        var (_, layer) = Layer();
        var model = nn.Sequential(("conv", layer));
        using var x = torch.randn(1, 4, 5, 5);
        model.eval();
        using (torch.no_grad()) using (layer.call(x)) { }
        using (torch.no_grad()) layer.Code.add_(1.0);
        model.train();
        model.eval();
        using var _ = torch.no_grad();
        using var y = layer.call(x);
        using var expected = PlainConv(layer, x);
        Assert.True(MaxAbsDifference(y, expected) < 1e-5);
    }
}
