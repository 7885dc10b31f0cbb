using AssocConv.Csg;
using AssocConv.Models;
using AssocConv.Native;
using TorchSharp;
using TorchSharp.Modules;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Csg;

public class AssociatorTests
{
    [Fact]
    public void Associating_the_plain_resnet56_gives_the_built_in_associative_model()
    {
        using var model = ModelZoo.Create("resnet56", new ModelOptions { Plain = true });
        var report = Associator.Associate(model, GeneratorOptions.Default);

        using var builtIn = ModelZoo.Create("resnet56");
        Assert.Equal(160_450, ParameterReport.Of(builtIn).Trainable);
        Assert.Equal(ParameterReport.Of(builtIn).Trainable, report.TrainableAfter);
        Assert.Equal(853_018, report.TrainableBefore);
        Assert.Equal(54, report.Layers.Count);
        Assert.Empty(report.Skipped);
        Assert.Equal("stage_1.0.conv_a", report.Layers[0].Path);
        Assert.Equal(ParameterReport.Of(model).Trainable, report.TrainableAfter);
        Assert.Contains("CSG.weight", model.state_dict().Keys);
        Assert.Contains("stage_1.0.conv_a.code", model.state_dict().Keys);
        using var y = model.call(torch.randn(2, 3, 32, 32));
        Assert.Equal(new long[] { 2, 10 }, y.shape);
    }

    private static SmallCnn TrainedPlainSmallCnn()
    {
        torch.manual_seed(41);
        var model = new SmallCnn(new ModelOptions { Plain = true });
        using var x = torch.randn(8, 3, 16, 16);
        model.train();
        for (int i = 0; i < 2; i++) using (model.call(x)) { }   // non-trivial batch-norm statistics
        model.eval();
        return model;
    }

    [Fact]
    public void Svd_initialisation_reproduces_the_kernels_when_the_code_is_at_least_the_slice_matrix_rank()
    {
        using var model = TrainedPlainSmallCnn();
        using var x = torch.randn(3, 3, 16, 16);
        using var _ = torch.no_grad();
        using var before = model.call(x);
        // SmallCnn's four 3x3 convolutions cut into 8x8x3x3 slices: 8 + 16 + 32 + 64 = 120 slices, so rank <= 120
        var report = Associator.Associate(model, new GeneratorOptions { Slice = new SliceShape(8, 8), CodeSize = 120 },
            init: AssociateInit.FromWeights);

        Assert.Equal(4, report.Layers.Count);
        Assert.True(report.RelativeError < 1e-6, $"overall error {report.RelativeError}");
        Assert.All(report.Layers, l => Assert.True(l.RelativeError < 1e-6, $"{l.Path}: {l.RelativeError}"));
        using var after = model.call(x);
        Assert.True(MaxAbsDifference(before, after) < 1e-4);
    }

    [Theory]
    [InlineData(SliceLayout.Reference)]
    [InlineData(SliceLayout.Blocked)]
    public void Svd_error_falls_as_the_code_grows_and_each_layer_error_is_what_it_reports(SliceLayout layout)
    {
        var errors = new List<double>();
        foreach (int code in new[] { 4, 16, 48, 96, 120 })
        {
            using var model = TrainedPlainSmallCnn();
            var originals = model.named_modules().Where(m => m.module is Conv2d).Skip(1)
                .Select(m => ((Conv2d)m.module).weight!.detach().clone()).ToList();
            var report = Associator.Associate(model,
                new GeneratorOptions { Slice = new SliceShape(8, 8), CodeSize = code, Layout = layout },
                init: AssociateInit.FromWeights);
            errors.Add(report.RelativeError!.Value);
            // independent check of one layer's error against the kernel it replaced
            using var generated = report.Layers[2].Layer.GenerateKernel();
            double expected = ((generated - originals[2]).norm() / originals[2].norm()).item<float>();
            Assert.Equal(expected, report.Layers[2].RelativeError!.Value, 4);
        }
        for (int i = 1; i < errors.Count; i++)
            Assert.True(errors[i] < errors[i - 1], $"errors {string.Join(", ", errors)}");
        Assert.True(errors[0] > 0.3);
        Assert.True(errors[^1] < 1e-6);
    }

    [Fact]
    public void Selection_by_path_kernel_and_groups_and_skipped_layers_are_reported()
    {
        using var resnet = ModelZoo.Create("resnet20", new ModelOptions { Plain = true });
        var report = Associator.Associate(resnet, GeneratorOptions.Default, ConvSelect.PathMatches(@"^stage_3\."));
        Assert.Equal(6, report.Layers.Count);
        Assert.All(report.Layers, l => Assert.StartsWith("stage_3.", l.Path));

        using var mobile = ModelZoo.Create("mobilenetv2", new ModelOptions { Plain = true });
        var depthwise = Associator.Associate(mobile, GeneratorOptions.Default,
            ConvSelect.And(ConvSelect.AllButFirst, ConvSelect.Kernel(3), c => c.Groups == c.InChannels));
        Assert.Equal(17, depthwise.Layers.Count);
        Assert.All(depthwise.Layers, l => Assert.Equal(l.Layer.InChannels, l.Layer.Groups));

        var model = nn.Sequential(("first", nn.Conv2d(3, 8, 3, padding: 1)), ("wide", nn.Conv2d(8, 8, 5, padding: 2)),
            ("same", nn.Conv2d(8, 8, 3, padding: Padding.Same)), ("pointwise", nn.Conv2d(8, 4, 1, bias: true)));
        using var x = torch.randn(1, 3, 6, 6);
        var skipped = Associator.Associate(model, new GeneratorOptions { Slice = new SliceShape(4, 4), CodeSize = 8 });
        Assert.Equal(new[] { "same", "pointwise" }, skipped.Layers.Select(l => l.Path));
        Assert.Equal("wide", Assert.Single(skipped.Skipped).Path);
        Assert.Contains("larger than the slice", skipped.Skipped[0].Reason);
        Assert.NotNull(skipped.Layers[1].Layer.Bias);
        using var y = model.call(x);
        Assert.Equal(new long[] { 1, 4, 6, 6 }, y.shape);
    }

    [Fact]
    public void Associated_model_trains_codes_and_generator_and_materializes_back()
    {
        using var model = TrainedPlainSmallCnn();
        var report = Associator.Associate(model, new GeneratorOptions { Slice = new SliceShape(8, 8), CodeSize = 120 },
            init: AssociateInit.FromWeights);
        ConvolutionGuard.Protect(model);   // after replacing layers, as the edges that run models do
        model.train();
        using var optimizer = optim.SGD(model.parameters(), 0.01);
        using var before = report.Generator.Weight.detach().clone();
        using (var loss = model.call(torch.randn(4, 3, 16, 16)).pow(2).mean()) loss.backward();
        optimizer.step();
        Assert.True(MaxAbsDifference(before, report.Generator.Weight) > 0);
        Assert.NotNull(report.Layers[0].Layer.Code.grad);

        Assert.Equal(4, Materializer.Materialize(model));
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("CSG") || k.Contains("code"));
    }

    [Fact]
    public void Bad_requests_are_refused_with_a_reason()
    {
        using var model = ModelZoo.Create("small-cnn");
        Assert.Contains("already has a child called 'CSG'",
            Assert.Throws<ArgumentException>(() => Associator.Associate(model, GeneratorOptions.Default)).Message);
        using var plain = ModelZoo.Create("small-cnn", new ModelOptions { Plain = true });
        Assert.Contains("binary", Assert.Throws<ArgumentException>(() => Associator.Associate(plain,
            GeneratorOptions.Default with { Init = GeneratorInit.Binary }, init: AssociateInit.FromWeights)).Message);
        Assert.Contains("no convolution", Assert.Throws<ArgumentException>(() => Associator.Associate(plain,
            GeneratorOptions.Default, ConvSelect.PathMatches("nothing"))).Message);
    }
}

public class GenerateTogetherTests
{
    [Fact]
    public void Generating_all_kernels_in_one_multiply_gives_the_same_outputs_and_gradients()
    {
        torch.manual_seed(51);
        using var together = ModelZoo.Create("resnet20");   // its forward generates all kernels at once
        using var separate = ModelZoo.Create("resnet20", new ModelOptions { Plain = true });
        Associator.Associate(separate, GeneratorOptions.Default,
            ConvSelect.Kernel(3) is var k3 ? ConvSelect.And(ConvSelect.AllButFirst, k3) : null);
        using (torch.no_grad())
        {
            var a = together.modules().OfType<AssociativeConv2d>().ToList();
            var b = separate.modules().OfType<AssociativeConv2d>().ToList();
            Assert.Equal(a.Count, b.Count);
            for (int i = 0; i < a.Count; i++) b[i].Code.copy_(a[i].Code);
            b[0].Generator.Weight.copy_(a[0].Generator.Weight);
            var target = separate.state_dict();
            foreach (var (name, tensor) in together.state_dict())
                if (target.TryGetValue(name, out var t)) t.copy_(tensor);
        }
        together.train();
        separate.train();
        int callsTogether = 0, callsSeparate = 0;
        together.modules().OfType<ConvolutionalSliceGenerator>().Single()
            .register_forward_hook((_, _, o) => { callsTogether++; return o; });
        separate.modules().OfType<ConvolutionalSliceGenerator>().Single()
            .register_forward_hook((_, _, o) => { callsSeparate++; return o; });
        using var x = torch.randn(4, 3, 16, 16);
        using var y1 = together.call(x);
        using var y2 = separate.call(x);
        Assert.Equal(0, callsTogether);    // one multiply for all 18 layers, outside the per-layer path
        Assert.Equal(18, callsSeparate);
        Assert.True(MaxAbsDifference(y1, y2) < 1e-4);
        using (var l1 = y1.pow(2).mean()) l1.backward();
        using (var l2 = y2.pow(2).mean()) l2.backward();
        var ga = together.modules().OfType<ConvolutionalSliceGenerator>().Single().Weight.grad!;
        var gb = separate.modules().OfType<ConvolutionalSliceGenerator>().Single().Weight.grad!;
        Assert.True(MaxAbsDifference(ga, gb) < 1e-4 * Math.Max(1, ga.abs().max().item<float>()));
        var ca = together.modules().OfType<AssociativeConv2d>().Last().Code.grad!;
        var cb = separate.modules().OfType<AssociativeConv2d>().Last().Code.grad!;
        Assert.True(MaxAbsDifference(ca, cb) < 1e-4 * Math.Max(1, ca.abs().max().item<float>()));
    }
}
