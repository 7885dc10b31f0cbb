using System.Diagnostics;
using AssocConv.Csg;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.Onnx;
using Google.Protobuf;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Onnx;

public sealed class OnnxExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // every family of the zoo (its smallest model), plain, associative in both layouts, (the small ones) a plain
    // model made associative by Associator.Associate, as a user's own model would be, and the small CNN without
    // batch-norm
    public static TheoryData<string, string, OnnxForm> Cases()
    {
        var data = new TheoryData<string, string, OnnxForm>();
        foreach (var entry in SmallestOfEachFamily())
            foreach (var variant in new[] { "plain", "reference", "blocked", "associated", "no-batch-norm" })
                foreach (var form in new[] { OnnxForm.Materialized, OnnxForm.Generator })
                    if ((variant != "plain" || form == OnnxForm.Materialized)
                        && (variant != "associated" || entry.Family is "small-cnn" or "cifar-resnet")
                        && (variant != "no-batch-norm" || entry.Family is "small-cnn"))
                        data.Add(entry.Name, variant, form);
        return data;
    }

    private static nn.Module<Tensor, Tensor> Build(string name, string variant)
    {
        manual_seed(5);
        var options = variant switch
        {
            "plain" or "associated" => new ModelOptions { Plain = true },
            "blocked" => new ModelOptions
            {
                Generator = ModelZoo.Get(name).DefaultGenerator with { Layout = SliceLayout.Blocked },
            },
            "no-batch-norm" => new ModelOptions { BatchNorm = false },
            _ => new ModelOptions(),
        };
        var model = ModelZoo.Create(name, options);
        if (variant == "associated")
            Associator.Associate(model, new GeneratorOptions { Slice = new SliceShape(8, 8), CodeSize = 24 });
        Perturb(model);
        model.eval();
        return model;
    }

    // batch-norm statistics and affine parameters away from their defaults, so that a wrong mapping shows
    private static void Perturb(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var bn in model.modules().OfType<TorchSharp.Modules.BatchNorm2d>())
        {
            bn.running_mean!.copy_(randn_like(bn.running_mean) * 0.1);
            bn.running_var!.copy_(rand_like(bn.running_var) + 0.5);
            bn.weight!.copy_(rand_like(bn.weight) + 0.5);
            bn.bias!.copy_(randn_like(bn.bias) * 0.1);
        }
    }

    private static double RelativeDifference(float[] actual, Tensor expected)
    {
        var e = expected.data<float>().ToArray();
        Assert.Equal(e.Length, actual.Length);
        double scale = e.Max(Math.Abs), worst = 0;
        for (int i = 0; i < e.Length; i++) worst = Math.Max(worst, Math.Abs(actual[i] - e[i]));
        return worst / scale;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Onnx_runtime_gives_our_outputs_for_batches_of_7_and_1(string name, string variant, OnnxForm form)
    {
        using var model = Build(name, variant);
        ConvolutionGuard.Protect(model);
        int size = TestInputSize(ModelZoo.Get(name));
        var path = Path.Combine(_dir, "model.onnx");
        OnnxExport.Save(model, path, new OnnxExportOptions { Form = form, InputSize = (3, size, size) });
        using var onnx = OnnxModel.Load(path);
        foreach (int batch in new[] { 7, 1 })
        {
            using var x = randn(batch, 3, size, size);
            using var _ = no_grad();
            using var ours = model.call(x);
            var theirs = onnx.Run(x.data<float>().ToArray(), batch);
            double difference = RelativeDifference(theirs, ours);
            Assert.True(difference < 1e-4, $"{name} {variant} {form}, batch {batch}: {difference:E2} relative");
        }
    }

    public static TheoryData<string> Families() => new(SmallestOfEachFamily().Select(e => e.Name));

    [SharedTheory("datasets/cifar-10-batches-bin")]
    [MemberData(nameof(Families))]
    public void Onnx_runtime_gives_our_outputs_on_real_cifar10_images(string name)
    {
        using var data = AssocConv.Data.Dataset.Load(
            AssocConv.Data.DatasetSpec.Parse("cifar10:" + SharedPath("datasets/cifar-10-batches-bin")));
        using var model = Build(name, "reference");
        ConvolutionGuard.Protect(model);
        var path = Path.Combine(_dir, "model.onnx");
        OnnxExport.Save(model, path, new OnnxExportOptions { Form = OnnxForm.Generator });
        using var onnx = OnnxModel.Load(path);
        var batch = new AssocConv.Data.BatchPipeline(data.Test, data.Normalization, 16, shuffle: false, augment: false,
            seed: 0, format: AssocConv.Tensors.MemoryFormat.Contiguous).Epoch(0).First();
        using (batch)
        {
            using var _ = no_grad();
            using var ours = model.call(batch.Images);
            var theirs = onnx.Run(batch.Images.contiguous().data<float>().ToArray(), 16);
            double difference = RelativeDifference(theirs, ours);
            Assert.True(difference < 1e-4, $"{name}: {difference:E2} relative");
        }
    }

    [Fact]
    public void The_file_carries_its_metadata_a_dynamic_batch_and_the_generator_form_is_compact()
    {
        using var model = Build("resnet56", "reference");
        var options = new OnnxExportOptions
        {
            Mean = [0.4914, 0.4822, 0.4465], Std = [0.247, 0.2435, 0.2616],
            ClassNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            ModelDescription = """{"name":"resnet56"}""",
        };
        var baked = Path.Combine(_dir, "baked.onnx");
        var generated = Path.Combine(_dir, "generated.onnx");
        OnnxExport.Save(model, baked, options);
        OnnxExport.Save(model, generated, options with { Form = OnnxForm.Generator });
        using (var onnx = OnnxModel.Load(generated))
        {
            Assert.Equal((3L, 32L, 32L), onnx.InputSize);
            Assert.Equal(options.Mean, onnx.Mean);
            Assert.Equal(options.Std, onnx.Std);
            Assert.Equal(options.ClassNames, onnx.ClassNames);
            Assert.Equal(10, onnx.Classes);
            Assert.Equal(OnnxForm.Generator, onnx.Form);
            Assert.Equal(options.ModelDescription, onnx.Model);
            Assert.Equal(160_450, onnx.Trainable);
        }
        var file = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(baked));
        Assert.Equal("batch", file.Graph.Input.Single().Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(OnnxExport.OutputName, file.Graph.Output.Single().Name);
        Assert.True(file.OpsetImport.Single().Version >= 17);
        // the generator and the codes (160,450 trainable parameters in all) against every kernel baked in
        long bakedBytes = new FileInfo(baked).Length, generatedBytes = new FileInfo(generated).Length;
        Assert.True(generatedBytes < bakedBytes / 4, $"{generatedBytes:N0} bytes against {bakedBytes:N0} baked");
    }

    // a file whose metadata was damaged or written by hand is refused on loading, naming the key, instead of
    // failing later as an index out of range or normalising with numbers that make no sense
    [Theory]
    [InlineData("mean", "0.5,abc,0.5", "'mean' is not a comma-separated list of numbers: '0.5,abc,0.5'")]
    [InlineData("mean", "0.5,0.5", "'mean' and 'std': 2 means and 3 standard deviations for 3 channels")]
    [InlineData("mean", "0.5,Infinity,0.5", "'std': means (0.5,Infinity,0.5) must be finite")]
    [InlineData("std", "0.2,0,0.2", "standard deviations (0.2,0,0.2) positive and finite")]
    [InlineData("std", "0.2,NaN,0.2", "standard deviations (0.2,NaN,0.2) positive")]
    [InlineData("class_names", "[\"cat\"", "'class_names' is not a JSON array of strings: '[\"cat\"'")]
    [InlineData("class_names", "[\"cat\",null]", "'class_names' is not a JSON array of strings")]
    [InlineData("class_names", "[\"cat\",\"dog\"]", "'class_names' names 2 classes but the model has 10 outputs")]
    [InlineData("class_names", "[\"cat\",\"\\u001b]0;x\\u0007\"]",
        "'class_names' is refused: class name 1 ('\\u001B]0;x\\u0007') holds the control character U+001B")]
    [InlineData("form", "baked", "'form' is 'baked', not 'generator' or 'materialized'")]
    [InlineData("trainable_parameters", "-5", "'trainable_parameters' is not a whole number: '-5'")]
    [InlineData("input_size", "1x28x28", "'input_size' says 1x28x28 but the graph's input is [-1, 3, 32, 32]")]
    public void Damaged_metadata_is_refused_on_loading_naming_the_key(string key, string value, string message)
    {
        var path = Path.Combine(_dir, "damaged.onnx");
        WriteWithMetadata(path, key, value);
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Load(path));
        Assert.Contains(message, e.Message);
        Assert.StartsWith(path + ": ", e.Message);
    }

    // the small CNN exported with CIFAR-10's metadata, then one metadata value replaced (also for the CLI's tests)
    internal static void WriteWithMetadata(string path, string key, string value)
    {
        using var model = Build(SmallCnn.Name, "plain");
        OnnxExport.Save(model, path, CifarMetadata);
        var file = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        file.MetadataProps.Single(p => p.Key == key).Value = value;
        File.WriteAllBytes(path, file.ToByteArray());
    }

    private static readonly OnnxExportOptions CifarMetadata = new()
    {
        Mean = [0.4914, 0.4822, 0.4465], Std = [0.2023, 0.1994, 0.2010],
        ClassNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    };

    [Fact]
    public void Metadata_that_does_not_fit_the_model_is_refused_before_anything_is_written()
    {
        using var model = Build(SmallCnn.Name, "plain");
        var path = Path.Combine(_dir, "refused.onnx");
        var e = Assert.Throws<ArgumentException>(() =>
            OnnxExport.Save(model, path, CifarMetadata with { Mean = [0.5], Std = [0.25] }));
        Assert.Contains("1 means and 1 standard deviations for 3 channels", e.Message);
        e = Assert.Throws<ArgumentException>(() =>
            OnnxExport.Save(model, path, CifarMetadata with { Std = [0.2, 0, 0.2] }));
        Assert.Contains("standard deviations (0.2,0,0.2) positive and finite", e.Message);
        e = Assert.Throws<ArgumentException>(() =>
            OnnxExport.Save(model, path, CifarMetadata with { ClassNames = ["cat", "dog"] }));
        Assert.Contains("2 class names for a model with 10 outputs", e.Message);
        Assert.False(File.Exists(path));
        // what it does write reads back
        OnnxExport.Save(model, path, CifarMetadata);
        using var onnx = OnnxModel.Load(path);
        Assert.Equal(CifarMetadata.Std, onnx.Std);
    }

    private sealed class Doubler : nn.Module<Tensor, Tensor>
    {
        public Doubler() : base("Doubler") { }
        public override Tensor forward(Tensor x) => x * 2;
    }

    [Fact]
    public void A_module_the_exporter_does_not_know_is_refused_by_path_and_nothing_is_written()
    {
        using var model = nn.Sequential(("stem", nn.Conv2d(3, 8, 3, padding: 1)), ("scale", new Doubler()),
            ("pool", nn.AdaptiveAvgPool2d(1)));
        var path = Path.Combine(_dir, "refused.onnx");
        File.WriteAllText(path, "the previous file");
        var e = Assert.Throws<OnnxExportException>(() => OnnxExport.Save(model, path));
        Assert.Contains("'scale' is a Doubler", e.Message);
        Assert.Equal("the previous file", File.ReadAllText(path));

        // a module registered inside a known block but outside its forward pass as the exporter knows it
        using var resnet = Build("resnet20", "plain");
        var block = resnet.named_modules().Single(m => m.name == "stage_2.1").module;
        block.register_module("extra", new Doubler());
        e = Assert.Throws<OnnxExportException>(() => OnnxExport.Save(resnet, path));
        Assert.Contains("'stage_2.1.extra' (Doubler) is not part of the exported graph", e.Message);
    }

    private const string Checker = "/usr/lib/python3/dist-packages/onnx/checker.py";

    [SystemFact(Checker, "python3-onnx")]
    public void Onnx_s_own_checker_accepts_both_forms()
    {
        using var model = Build("resnet20", "blocked");
        foreach (var form in new[] { OnnxForm.Materialized, OnnxForm.Generator })
        {
            var path = Path.Combine(_dir, $"{form}.onnx");
            OnnxExport.Save(model, path, new OnnxExportOptions { Form = form });
            var info = new ProcessStartInfo("/usr/bin/python3",
                ["-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path])
            {
                RedirectStandardOutput = true, RedirectStandardError = true,
            };
            using var p = Process.Start(info)!;
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"{form}: {err}");
        }
    }
}
