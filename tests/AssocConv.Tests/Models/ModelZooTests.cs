using System.Text.Json;
using AssocConv.Csg;
using AssocConv.Models;
using TorchSharp;
using TorchSharp.Modules;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Models;

public class ModelZooTests
{
    private static GeneratorOptions Slice(int size, int code) =>
        GeneratorOptions.Default with { Slice = new SliceShape(size, size), CodeSize = code };

    // Trainable parameters (running statistics excluded, generator once), from the reference
    // implementation's trained checkpoints and model classes.
    public static TheoryData<string, int, int, long, long> PaperCounts => new()
    {
        { "resnet20", 16, 72, 176_698, 269_722 },
        { "resnet56", 12, 72, 160_450, 853_018 },
        { "resnet56", 16, 128, 347_162, 853_018 },
        { "densenet-bc-40-36", 12, 72, 842_842, 1_542_682 },
        { "densenet-bc-40-48", 12, 72, 1_416_394, 2_733_130 },
    };

    [Theory]
    [MemberData(nameof(PaperCounts))]
    public void Cifar_models_have_the_reference_parameter_counts(string name, int slice, int code, long associative,
        long plain)
    {
        using var model = ModelZoo.Create(name, new ModelOptions { Generator = Slice(slice, code) });
        using var plainModel = ModelZoo.Create(name, new ModelOptions { Plain = true });
        var report = ParameterReport.Of(model);
        Assert.Equal(associative, report.Trainable);
        Assert.Equal(plain, ParameterReport.Of(plainModel).Trainable);
        Assert.Equal(plain, report.PlainTrainable);
    }

    [Theory]
    [InlineData("mobilenetv2", 1_595_322, 2_296_922)]
    [InlineData("shufflenetv2", 171_818, 352_042)]
    public void Mobile_models_have_the_reference_parameter_counts_with_their_default_16x16x1x1_code_16_generator(
        string name, long associative, long plain)
    {
        using var model = ModelZoo.Create(name);
        Assert.Equal(new SliceShape(16, 16, 1, 1), ModelZoo.Get(name).DefaultGenerator.Slice);
        Assert.Equal(16, ModelZoo.Get(name).DefaultGenerator.CodeSize);
        Assert.Equal(associative, ParameterReport.Of(model).Trainable);
        using var plainModel = ModelZoo.Create(name, new ModelOptions { Plain = true });
        Assert.Equal(plain, ParameterReport.Of(plainModel).Trainable);
    }

    [Theory]
    [InlineData("imagenet-resnet18", 11_689_512, 8)]
    [InlineData("imagenet-resnet34", 21_797_672, 32)]
    [InlineData("imagenet-resnet50", 25_557_032, 16)]
    public void ImageNet_resnets_match_torchvision_when_plain_and_generate_the_reference_layers(string name,
        long torchvision, int generated)
    {
        using var plain = ModelZoo.Create(name, new ModelOptions { Plain = true });
        Assert.Equal(torchvision, ParameterReport.Of(plain).Trainable);   // torchvision's published sizes
        using var model = ModelZoo.Create(name);
        var report = ParameterReport.Of(model);
        Assert.Equal(generated, report.AssociativeLayers);
        Assert.Equal(torchvision, report.PlainTrainable);
        Assert.Equal(16 * 16 * 9 * 128, report.Groups[ParameterGroup.Generator].Trainable);
    }

    [SharedFact("fixtures/reference-checkpoints/resnet20-csg-16x16-code72.expected.json")]
    public void ResNet20_state_dict_has_the_reference_checkpoint_names_and_shapes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(
            SharedPath("fixtures/reference-checkpoints/resnet20-csg-16x16-code72.expected.json")));
        // the checkpoint: DataParallel's 'module.' prefix, the generator under its old name CLG and again under every
        // block
        var expected = doc.RootElement.GetProperty("tensors").EnumerateObject()
            .Select(t => (Name: t.Name["module.".Length..],
                Shape: t.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray()))
            .Where(t => t.Name == "CLG.weight" || !t.Name.EndsWith(".CLG.weight", StringComparison.Ordinal))
            .Select(t => (Name: t.Name.Replace("CLG.", "CSG."), t.Shape))
            .OrderBy(t => t.Name, StringComparer.Ordinal).ToList();

        using var model = ModelZoo.Create("resnet20", new ModelOptions { Generator = Slice(16, 72) });
        var actual = model.state_dict().Select(kv => (Name: kv.Key, Shape: kv.Value.shape))
            .OrderBy(t => t.Name, StringComparer.Ordinal).ToList();

        Assert.Equal(expected.Select(t => t.Name), actual.Select(t => t.Name));
        Assert.All(expected.Zip(actual), p => Assert.Equal(p.First.Shape, p.Second.Shape));
    }

    [Theory]
    [InlineData("densenet-bc-40-12",
        new[] { "CSG.weight", "conv1.weight", "dense1.0.bn1.weight", "dense1.0.conv1.weight", "dense1.0.bn2.weight",
            "dense1.0.code2", "trans1.bn.weight", "trans1.conv.weight", "trans3.bn.weight", "linear.weight" },
        new[] { "trans3.conv.weight", "dense1.0.conv2.code", "dense1.0.conv2.weight" })]
    [InlineData("mobilenetv2",
        new[] { "CSG.weight", "layers.0.code1", "layers.0.conv2.weight", "layers.0.shortcut.0.weight",
            "layers.0.shortcut.1.weight", "conv2.weight", "linear.weight" },
        new[] { "layers.0.conv1.weight", "layers.2.shortcut.0.weight" })]
    [InlineData("shufflenetv2",
        new[] { "CSG.weight", "code2", "bn2.weight", "layer1.0.conv1.weight", "layer1.0.conv5.weight",
            "layer1.1.conv3.weight", "linear.weight" },
        new[] { "conv2.weight", "conv2.code" })]
    [InlineData("imagenet-resnet18",
        new[] { "CSG.weight", "layer1.0.code1", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.weight", "fc.weight" },
        new[] { "layer1.0.code2", "layer1.0.downsample.0.weight" })]
    [InlineData("imagenet-resnet50",
        new[] { "layer1.0.conv1.weight", "layer1.0.code2", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight" },
        new[] { "layer1.0.conv2.weight" })]
    public void State_dict_names_follow_the_reference_classes(string name, string[] present, string[] absent)
    {
        using var model = ModelZoo.Create(name);
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.All(present, k => Assert.Contains(k, keys));
        Assert.All(absent, k => Assert.DoesNotContain(k, keys));
    }

    /// <summary>Every listed model, at its input size (ImageNet models at 64x64, enough for their five
    /// downsamplings).</summary>
    public static TheoryData<string, int> ForwardCases => TestSupport.Theory(ModelZoo.All.Select(e => (e.Name,
        TestSupport.TestInputSize(e))));

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void Every_listed_model_classifies_a_batch_plain_and_associative_and_its_materialized_form_agrees(
        string name, int size)
    {
        torch.manual_seed(5);
        int classes = ModelZoo.Get(name).Classes;
        using var x = torch.randn(2, 3, size, size);
        // training mode: batch statistics keep untrained deep models finite (the reference's
        // initialisation makes generated kernels ~12x larger than plain ones; batch-norm absorbs it)
        using var plain = ModelZoo.Create(name, new ModelOptions { Plain = true });
        using var model = ModelZoo.Create(name);
        using var _ = torch.no_grad();
        using (var y = plain.call(x)) Assert.Equal(new long[] { 2, classes }, y.shape);
        using var before = model.call(x);
        Assert.Equal(new long[] { 2, classes }, before.shape);
        Assert.False(before.isnan().any().item<bool>());

        Materializer.Materialize(model);

        // materialized, the model has exactly the plain model's state-dict names and shapes
        Assert.Equal(plain.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape),
            model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape));
        using var after = model.call(x);
        Assert.True(MaxAbsDifference(before, after) < 1e-3);
    }

    [Fact]
    public void Any_cifar_resnet_depth_6n_plus_2_and_densenet_bc_depth_6n_plus_4_resolves()
    {
        Assert.Equal("resnet164", ModelZoo.Get("resnet164").Name);
        Assert.Equal("resnet1202", ModelZoo.Get("ResNet1202").Name);
        Assert.Equal("densenet-bc-190-40", ModelZoo.Get("densenet-bc-190-40").Name);
        Assert.Contains("6n+2", Assert.Throws<ArgumentException>(() => ModelZoo.Get("resnet22")).Message);
        Assert.Contains("6n+4", Assert.Throws<ArgumentException>(() => ModelZoo.Get("densenet-bc-42-12")).Message);
        Assert.Contains("known models", Assert.Throws<ArgumentException>(() => ModelZoo.Get("vgg")).Message);
        // plain ResNet-110: 1.7 M parameters, as in He et al. (2016), table 6
        using var resnet110 = ModelZoo.Create("resnet110", new ModelOptions { Plain = true });
        Assert.InRange(ParameterReport.Of(resnet110).Trainable, 1_700_000, 1_740_000);
    }

    [Fact]
    public void Selection_all_3x3_and_all_widen_what_is_generated()
    {
        int Layers(string name, AssociativeSelection selection, GeneratorOptions? generator = null)
        {
            using var m = ModelZoo.Create(name, new ModelOptions { Selection = selection, Generator = generator });
            return ParameterReport.Of(m).AssociativeLayers;
        }
        // DenseNet-BC-40: 18 bottlenecks; all adds their 1x1 convs and the two transition convs
        Assert.Equal(18, Layers("densenet-bc-40-12", AssociativeSelection.Reference));
        Assert.Equal(18, Layers("densenet-bc-40-12", AssociativeSelection.All3x3));
        Assert.Equal(18 + 18 + 2, Layers("densenet-bc-40-12", AssociativeSelection.All));
        // ImageNet ResNet-18: the reference generates the first 3x3 of each of 8 blocks; all 3x3 also the second
        Assert.Equal(16, Layers("imagenet-resnet18", AssociativeSelection.All3x3));
        // MobileNetV2's 3x3 convolutions are depthwise: a 1x1 slice cannot generate them
        var e = Assert.Throws<ArgumentException>(() => Layers("mobilenetv2", AssociativeSelection.All3x3));
        Assert.Contains("kernel is larger", e.Message);
        Assert.Equal(17, Layers("mobilenetv2", AssociativeSelection.All3x3,
            MobileNetV2.DefaultGenerator with { Slice = new SliceShape(16, 16) }));
        // the first convolution never is associative
        using var all = ModelZoo.Create("resnet20", new ModelOptions { Selection = AssociativeSelection.All });
        Assert.IsType<Conv2d>(all.named_modules().Single(m => m.name == "conv_1_3x3").module);
    }

    [Fact]
    public void Hosted_codes_train_and_are_counted_as_codes()
    {
        torch.manual_seed(6);
        using var model = ModelZoo.Create("resnet20");
        var code = model.get_parameter("stage_2.0.code")!;
        Assert.Equal(new long[] { 2 * 3, 72 }, code.shape);   // ceil(32/12) x ceil(16/12) slices
        var layers = model.modules().OfType<AssociativeConv2d>().ToList();
        Assert.Contains(layers, l => ReferenceEquals(l.Code, code));
        Assert.All(layers, l => Assert.Empty(l.parameters(recurse: false)));

        var report = ParameterReport.Of(model);
        Assert.Equal(layers.Sum(l => l.Code.numel()), report.Groups[ParameterGroup.Codes].Trainable);

        using var before = code.detach().clone();
        using var optimizer = optim.SGD(model.parameters(), 0.1);
        using (var loss = nn.functional.cross_entropy(model.call(torch.randn(4, 3, 16, 16)),
            torch.tensor(new long[] { 0, 1, 2, 3 })))
            loss.backward();
        Assert.NotNull(code.grad);
        optimizer.step();
        Assert.True(MaxAbsDifference(before, code) > 0);
    }

    [Fact]
    public void Converting_a_model_to_float64_converts_hosted_codes_and_the_generator_with_the_registrations()
    {
        using var model = ModelZoo.Create("resnet20", new ModelOptions
        {
            Generator = CifarResNet.DefaultGenerator with { Frozen = true },
        });
        model.to(float64);
        Assert.All(model.named_parameters(), p => Assert.Equal(float64, p.parameter.dtype));
        var generator = model.modules().OfType<ConvolutionalSliceGenerator>().Single();
        Assert.Same(model.get_parameter("CSG.weight"), generator.Weight);
        Assert.False(generator.Weight.requires_grad);   // a frozen generator stays frozen
        var layer = model.modules().OfType<AssociativeConv2d>().First();
        Assert.Same(model.get_parameter("stage_1.0.code"), layer.Code);
        using var _ = torch.no_grad();
        using var y = model.call(torch.randn(1, 3, 8, 8, dtype: float64));
        Assert.Equal(float64, y.dtype);
    }

    [Fact]
    public void Converting_a_model_whose_layers_own_their_codes_keeps_them_registered()
    {
        using var model = ModelZoo.Create("small-cnn");
        model.to(float64);
        Assert.All(model.named_parameters(), p => Assert.Equal(float64, p.parameter.dtype));
        Assert.All(model.modules().OfType<AssociativeConv2d>(), l => Assert.Same(l.get_parameter("code"), l.Code));
    }

    [Fact]
    public void A_code_is_hosted_once_and_materializing_removes_it_from_its_host()
    {
        using var model = ModelZoo.Create("resnet20");
        var layer = model.modules().OfType<AssociativeConv2d>().First();
        var (host, name) = layer.CodeHost!.Value;
        Assert.Equal("code", name);
        Assert.Contains("already hosted",
            Assert.Throws<InvalidOperationException>(() => layer.HostCodeIn(model, "x")).Message);
        Materializer.Materialize(model);
        Assert.Null(host.get_parameter("code"));
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("code"));
    }

    [Fact]
    public void Cifar_resnet_uses_the_reference_initialisation()
    {
        torch.manual_seed(7);
        using var model = ModelZoo.Create("resnet20", new ModelOptions { Plain = true });
        var conv = (Conv2d)model.named_modules().Single(m => m.name == "stage_3.1.conv_a").module;
        // normal(0, sqrt(2 / (3 * 3 * 64)))
        Assert.InRange(conv.weight!.std().item<float>(), 0.95 * Math.Sqrt(2.0 / 576), 1.05 * Math.Sqrt(2.0 / 576));
        var classifier = (Linear)model.named_modules().Single(m => m.name == "classifier").module;
        Assert.Equal(0.0, classifier.bias!.abs().max().item<float>());
        using var associative = ModelZoo.Create("resnet20");
        using var codes = associative.get_parameter("stage_3.1.code")!;
        Assert.InRange(codes.mean().item<float>(), -0.1, 0.1);
        Assert.InRange(codes.std().item<float>(), 0.9, 1.1);
    }

    [Fact]
    public void Zero_pad_shortcut_subsamples_and_appends_zero_channels_after_the_input()
    {
        using var x = torch.arange(2 * 3 * 4 * 4, dtype: float32).reshape(2, 3, 4, 4);
        using var shortcut = new ZeroPadShortcut(3, 5, 2);
        using var y = shortcut.call(x);
        Assert.Equal(new long[] { 2, 5, 2, 2 }, y.shape);
        using var kept = x[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(null, null, 2),
            TensorIndex.Slice(null, null, 2)];
        Assert.Equal(0.0, MaxAbsDifference(y.narrow(1, 0, 3), kept));
        Assert.Equal(0.0, y.narrow(1, 3, 2).abs().max().item<float>());
        Assert.Equal(new[] { 0.0, 2.0, 8.0, 10.0 },
            Values(y).Take(4));   // rows and columns 0 and 2 of the first channel
    }

    [Fact]
    public void The_small_cnn_without_batch_norm_has_none_round_trips_and_no_other_model_accepts_it()
    {
        var spec = new ModelSpec(SmallCnn.Name, new ModelOptions { BatchNorm = false });
        using var with = ModelZoo.Create(SmallCnn.Name, new ModelOptions());
        using var without = spec.Build();
        Assert.Empty(without.modules().OfType<BatchNorm2d>());
        Assert.Empty(without.buffers());
        // five batch-norms of 16, 32, 32, 64 and 64 channels, a weight and a bias each
        Assert.Equal(ParameterReport.Of(with).Trainable - 2 * (16 + 32 + 32 + 64 + 64),
            ParameterReport.Of(without).Trainable);
        using var x = randn(3, 3, 32, 32);
        using (no_grad())
        {
            without.train();
            using var training = without.call(x);
            without.eval();
            using var evaluating = without.call(x);   // nothing depends on the mode any more
            Assert.Equal(0.0, (training - evaluating).abs().max().item<float>());
        }

        var json = spec.ToJson();
        Assert.False((bool)json["batch_norm"]!);
        var back = ModelSpec.FromJson(json);
        Assert.False(back.Options.BatchNorm);
        Assert.Contains("no batch-norm", back.Describe());
        json.Remove("batch_norm");   // as files written before the option have it
        Assert.True(ModelSpec.FromJson(json).Options.BatchNorm);

        var resnet = new ModelSpec("resnet20", new ModelOptions()).ToJson();
        resnet["batch_norm"] = false;
        Assert.Contains("only small-cnn", Assert.Throws<FormatException>(() => ModelSpec.FromJson(resnet)).Message);
        Assert.Throws<ArgumentException>(() => ModelZoo.Create("resnet20", new ModelOptions { BatchNorm = false }));
    }
}
