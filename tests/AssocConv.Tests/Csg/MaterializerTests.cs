using AssocConv.Csg;
using AssocConv.Models;
using AssocConv.Native;
using TorchSharp;
using TorchSharp.Modules;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Csg;

public class MaterializerTests
{
    [Theory]
    [InlineData(SliceLayout.Reference, 8, 8)]
    [InlineData(SliceLayout.Blocked, 6, 10)]
    public void Materialized_model_gives_the_same_outputs_with_only_plain_convolutions(SliceLayout layout, int so,
        int si)
    {
        torch.manual_seed(31);
        var model = new SmallCnn(new ModelOptions
        {
            Generator = new GeneratorOptions { Slice = new SliceShape(so, si), CodeSize = 16, Layout = layout },
        });
        using var x = torch.randn(4, 3, 16, 16);
        // a few training steps so batch-norm statistics are not trivial
        model.train();
        for (int i = 0; i < 3; i++) using (model.call(x)) { }
        model.eval();
        using var _ = torch.no_grad();
        using var before = model.call(x);

        int replaced = Materializer.Materialize(model);

        Assert.Equal(4, replaced);
        Assert.DoesNotContain(model.modules(), m => m is AssociativeConv2d or ConvolutionalSliceGenerator);
        Assert.Equal(5, model.modules().Count(m => m is Conv2d));
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("code") || k.Contains("CSG"));
        using var after = model.call(x);
        Assert.True(MaxAbsDifference(before, after) < 1e-5);

        // parameters are now those of the plain counterpart
        var plain = new SmallCnn(new ModelOptions { Plain = true });
        Assert.Equal(ParameterReport.Of(plain).Trainable, ParameterReport.Of(model).Trainable);
    }

    [Fact]
    public void Materialize_works_inside_sequential_containers()
    {
        torch.manual_seed(32);
        var g = new ConvolutionalSliceGenerator(new GeneratorOptions { Slice = new SliceShape(4, 4), CodeSize = 6 });
        // a Sequential runs its children from a private list, which must be updated too
        var model = nn.Sequential(("a", new AssociativeConv2d(g, 3, 8, 3, padding: 1)), ("relu", nn.ReLU()),
            ("b", new AssociativeConv2d(g, 8, 5, 1)));
        ConvolutionGuard.Protect(model);   // NCHW with 3, 8 and 5 channels: where libtorch's oneDNN errs on some CPUs
        model.eval();
        using var x = torch.randn(2, 3, 7, 7);
        using var _ = torch.no_grad();
        using var before = model.call(x);
        Assert.Equal(2, Materializer.Materialize(model));
        using var after = model.call(x);
        Assert.True(MaxAbsDifference(before, after) < 1e-5);
        Assert.All(model.named_children().Where(c => c.name != "relu"), c => Assert.IsType<Conv2d>(c.module));
    }

    [Fact]
    public void Materializing_one_model_leaves_a_model_sharing_its_generator_working()
    {
        torch.manual_seed(33);
        var first = new SmallCnn(new ModelOptions());
        var generator = first.modules().OfType<ConvolutionalSliceGenerator>().Single();
        var second = new SmallCnn(new ModelOptions { SharedGenerator = generator });
        second.eval();
        using var x = torch.randn(2, 3, 8, 8);
        using var _ = torch.no_grad();
        using var before = second.call(x);
        Materializer.Materialize(first);
        second.InvalidateKernels();
        using var after = second.call(x);
        Assert.Equal(0.0, MaxAbsDifference(before, after));
    }
}
