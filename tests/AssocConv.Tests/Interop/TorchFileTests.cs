using System.Text.Json;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Interop;
using AssocConv.Models;
using AssocConv.Training;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Interop;

public class TorchFileTests
{
    private static string Fixture(string name) => Path.Combine(RepositoryRoot(),
        "tests/AssocConv.Tests/Fixtures/torch-save", name);
    private const string Reference = "fixtures/reference-checkpoints/resnet20-csg-16x16-code72";

    [Theory]
    [InlineData("legacy.pt", TorchFileLayout.Legacy, true)]
    [InlineData("zip.pt", TorchFileLayout.Zip, true)]
    [InlineData("bare-zip.pt", TorchFileLayout.Zip, false)]
    public void Both_layouts_load_every_dtype_view_and_shared_storage(string file, TorchFileLayout layout, bool wrapped)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture("expected.json")));
        using var torchFile = TorchFile.Read(Fixture(file));
        Assert.Equal(layout, torchFile.Layout);
        if (wrapped)
        {
            Assert.Equal(12.5, Convert.ToDouble(torchFile.Extras["acc"]));
            Assert.Equal(3, Convert.ToInt32(torchFile.Extras["epoch"]));
        }
        var expected = doc.RootElement.GetProperty("tensors").EnumerateObject().ToList();
        Assert.Equal(expected.Select(e => e.Name).Order(), torchFile.StateDict.Keys.Order());
        foreach (var e in expected)
        {
            var t = torchFile.StateDict[e.Name];
            Assert.Equal(e.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), t.shape);
            Assert.Equal(e.Value.GetProperty("dtype").GetString(), t.dtype switch
            {
                ScalarType.Float32 => "float32", ScalarType.Float16 => "float16", ScalarType.Float64 => "float64",
            ScalarType.Int64 => "int64", var d => d.ToString(), });
            Assert.Equal(e.Value.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()), Values(t));
        }
    }

    [Fact]
    public void A_global_outside_the_allow_list_is_refused_by_name_and_never_run()
    {
        var e = Assert.Throws<InvalidDataException>(() => TorchFile.Read(Fixture("forbidden-global.pt")));
        Assert.Contains("posix.system", e.Message);
    }

    [SharedFact(Reference + ".t7")]
    public void The_reference_checkpoint_reproduces_every_recorded_statistic()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedPath(Reference + ".expected.json")));
        using var file = TorchFile.Read(SharedPath(Reference + ".t7"));
        Assert.Equal(TorchFileLayout.Legacy, file.Layout);
        Assert.Equal(91.64, Convert.ToDouble(file.Extras["acc"]));
        Assert.Equal(162, Convert.ToInt32(file.Extras["epoch"]));
        var tensors = doc.RootElement.GetProperty("tensors").EnumerateObject().ToList();
        Assert.Equal(tensors.Count, file.StateDict.Count);
        foreach (var e in tensors)
        {
            var t = file.StateDict[e.Name];
            Assert.Equal(e.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), t.shape);
            var values = Values(t);
            Assert.Equal(e.Value.GetProperty("first5").EnumerateArray().Select(v => v.GetDouble()), values.Take(5));
            Assert.Equal(e.Value.GetProperty("sum").GetDouble(), values.Sum(), 6);
            Assert.Equal(e.Value.GetProperty("abs_sum").GetDouble(), values.Sum(Math.Abs), 6);
        }

        // loaded into our ResNet-20, the generated kernels are the ones the reference rule builds
        using var model = ModelZoo.Create("resnet20",
            new ModelOptions { Generator = CifarResNet.DefaultGenerator with { Slice = new SliceShape(16, 16) } });
        ReferenceCheckpoint.LoadInto(model, file, Reference);
        model.to(float64);
        var kernels = doc.RootElement.GetProperty("rebuilt_kernels").GetProperty("kernels").EnumerateObject().ToList();
        Assert.Equal(8, kernels.Count);
        foreach (var k in kernels)
        {
            // "stage_1.0.kernel2" is the kernel of stage_1.0's second convolution, conv_b
            var layerName = k.Name.Replace(".kernel1", ".conv_a").Replace(".kernel2", ".conv_b");
            var layer = (AssociativeConv2d)model.named_modules().Single(m => m.name == layerName).module;
            using var kernel = layer.GenerateKernel();
            var values = Values(kernel);
            Assert.Equal(k.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), kernel.shape);
            Assert.Equal(k.Value.GetProperty("sum").GetDouble(), values.Sum(), 9);
            Assert.Equal(k.Value.GetProperty("abs_sum").GetDouble(), values.Sum(Math.Abs), 9);
            Assert.Equal(k.Value.GetProperty("first5").EnumerateArray().Select(v => v.GetDouble()), values.Take(5),
                new Tolerance(1e-12));
        }
    }

    [SharedFact(Reference + ".t7")]
    public void The_reference_checkpoint_scores_its_recorded_accuracy_on_cifar10()
    {
        using var data = Dataset.Load(DatasetSpec.Parse("cifar10:" + SharedPath("datasets/cifar-10-batches-bin")));
        using var model = ModelZoo.Create("resnet20",
            new ModelOptions { Generator = CifarResNet.DefaultGenerator with { Slice = new SliceShape(16, 16) } });
        using (var file = TorchFile.Read(SharedPath(Reference + ".t7"))) ReferenceCheckpoint.LoadInto(model,
            file, Reference);
        var result = Evaluator.Evaluate(model, data.Test, data.Normalization);
        Assert.InRange(result.Accuracy, 91.64 - 0.02, 91.64 + 0.02);
    }

    [SharedFact(Reference + ".t7")]
    public void A_model_that_does_not_fit_gets_the_list_of_differences()
    {
        using var file = TorchFile.Read(SharedPath(Reference + ".t7"));
        using var model = ModelZoo.Create("resnet20");   // 12x12 slices: other code shapes, another generator
        var e = Assert.Throws<CheckpointMismatchException>(() => ReferenceCheckpoint.LoadInto(model, file, "rn20.t7"));
        Assert.Contains("CSG.weight: the file has [2304, 72], the model [1296, 72]", e.Problems);
        Assert.Contains("stage_3.2.code2: the file has [16, 72], the model [36, 72]", e.Problems);
        using var plain = ModelZoo.Create("resnet20", new ModelOptions { Plain = true });
        e = Assert.Throws<CheckpointMismatchException>(() => ReferenceCheckpoint.LoadInto(plain, file, "rn20.t7"));
        Assert.Contains("stage_1.0.conv_a.weight: in the model, not in the file", e.Problems);
        Assert.Contains("stage_1.0.code: in the file, not in the model", e.Problems);
    }

    private sealed class Tolerance(double epsilon) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= epsilon;
        public int GetHashCode(double value) => 0;
    }
}

public sealed class ReferenceCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => TestSupport.RunCli(args);

    [SharedFact("fixtures/reference-checkpoints/resnet20-csg-16x16-code72.t7")]
    public void Eval_and_import_of_the_reference_checkpoint_give_its_accuracy_and_wrong_slices_exit_2()
    {
        var t7 = SharedPath("fixtures/reference-checkpoints/resnet20-csg-16x16-code72.t7");
        var data = "cifar10:" + SharedPath("datasets/cifar-10-batches-bin");
        var (code, stdout, stderr) = Run("eval", "--checkpoint", t7, "--model", "resnet20", "--slice", "16x16",
            "--code-size", "72", "--data", data, "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout)) Assert.InRange(doc.RootElement.GetProperty("accuracy").GetDouble(),
            91.62, 91.66);

        (code, _, stderr) = Run("eval", "--checkpoint", t7, "--model", "resnet20", "--slice", "12x12", "--code-size",
            "72", "--data", data);
        Assert.Equal(2, code);
        Assert.Contains("CSG.weight: the file has [2304, 72], the model [1296, 72]", stderr);
        Assert.DoesNotContain("   at ", stderr);

        var imported = Path.Combine(_dir, "rn20.ckpt");
        (code, _, stderr) = Run("import", "--checkpoint", t7, "--model", "resnet20", "--slice", "16x16", "--code-size",
            "72", "--data", data, "--out", imported);
        Assert.True(code == 0, stderr);
        (code, stdout, stderr) = Run("eval", "--checkpoint", imported, "--json");   // no --model: the checkpoint says
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout)) Assert.InRange(doc.RootElement.GetProperty("accuracy").GetDouble(),
            91.62, 91.66);
    }
}

public sealed class TorchFileFuzzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        switch (random.Next(4))
        {
            case 0:   // flip a few bytes
                for (int k = random.Next(1, 5); k > 0; k--)
                    bytes[random.Next(bytes.Length)] ^= (byte)random.Next(1, 256);
                return bytes;
            case 1:   // cut the end
                return bytes[..random.Next(bytes.Length)];
            case 2:   // a plausible huge length or count where a small one was
                int at = random.Next(bytes.Length - 4);
                BitConverter.GetBytes(random.Next(2) == 0 ? int.MaxValue : random.Next()).CopyTo(bytes, at);
                return bytes;
            default:  // insert random bytes
                int where = random.Next(bytes.Length);
                var extra = new byte[random.Next(1, 16)];
                random.NextBytes(extra);
                return [.. bytes[..where], .. extra, .. bytes[where..]];
        }
    }

    [Theory]
    [InlineData("legacy.pt", 1500)]
    [InlineData("zip.pt", 1500)]
    public void Thousands_of_mutated_files_give_clean_errors_only(string fixture, int count)
    {
        var original = File.ReadAllBytes(Path.Combine(RepositoryRoot(), "tests/AssocConv.Tests/Fixtures/torch-save",
            fixture));
        Fuzz(original, count, seed: fixture.Length);
    }

    [SharedFact("fixtures/reference-checkpoints/resnet20-csg-16x16-code72.t7")]
    public void Mutations_of_the_reference_checkpoint_give_clean_errors_only() =>
        Fuzz(File.ReadAllBytes(SharedPath("fixtures/reference-checkpoints/resnet20-csg-16x16-code72.t7")), 150,
            seed: 7);

    private void Fuzz(byte[] original, int count, int seed)
    {
        var random = new Random(seed);
        var path = Path.Combine(_dir, "mutant.pt");
        int loaded = 0, refused = 0;
        for (int n = 0; n < count; n++)
        {
            File.WriteAllBytes(path, Mutate(original, random));
            var watch = System.Diagnostics.Stopwatch.StartNew();
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var file = TorchFile.Read(path);
                loaded++;
            }
            catch (InvalidDataException)
            {
                refused++;
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"mutant {n} took {watch.Elapsed}");
            Assert.True(allocated < 64L * original.Length + 64_000_000, $"mutant {n} allocated {allocated:N0} bytes");
        }
        Assert.True(refused > count / 4, $"{refused} of {count} mutants refused, {loaded} loaded");
    }
}

public sealed class ExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-export-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static nn.Module<Tensor, Tensor> TrainedResNet20()
    {
        torch.manual_seed(3);
        var model = ModelZoo.Create("resnet20",
            new ModelOptions { Generator = CifarResNet.DefaultGenerator with { Slice = new SliceShape(16, 16) } });
        // batch-norm statistics that are not the defaults
        using (var x = torch.randn(8, 3, 16, 16)) using (model.call(x)) { }
        model.eval();
        return model;
    }

    [Fact]
    public void A_torch_file_we_write_reads_back_with_the_generator_under_every_block_and_stored_once()
    {
        using var model = TrainedResNet20();
        var entries = ReferenceCheckpoint.ReferenceStateDict(model);
        Assert.Contains(entries, e => e.Name == "stage_3.2.CSG.weight");
        Assert.Equal(1 + 9, entries.Count(e => e.Name.EndsWith("CSG.weight", StringComparison.Ordinal)));
        var path = Path.Combine(_dir, "rn20.pt");
        TorchFileWriter.Write(path, entries);
        using var file = TorchFile.Read(path);
        Assert.Equal(TorchFileLayout.Zip, file.Layout);
        Assert.Equal(entries.Select(e => e.Name).Order(), file.StateDict.Keys.Order());
        foreach (var (name, tensor) in entries)
        {
            Assert.Equal(tensor.dtype, file.StateDict[name].dtype);
            Assert.Equal(0.0, MaxAbsDifference(tensor, file.StateDict[name]));
        }
        // ten names, one storage: the file holds the generator's 165,888 floats once
        long generatorBytes = 2304L * 72 * 4;
        Assert.InRange(new FileInfo(path).Length, 0,
            ParameterReport.Of(model).Total * 4 + 8 * generatorBytes / 10 + 200_000);
        using var again = TrainedResNet20();
        ReferenceCheckpoint.LoadInto(again, file, path);   // and it loads into our model the way a reference file does
    }

    [Fact]
    public void The_compact_file_reproduces_outputs_exactly_in_float32_and_closely_in_float16()
    {
        using var model = TrainedResNet20();
        using var x = torch.randn(4, 3, 32, 32);
        using var noGrad = torch.no_grad();
        using var expected = model.call(x);
        var spec = new ModelSpec("resnet20",
            new ModelOptions { Generator = CifarResNet.DefaultGenerator with { Slice = new SliceShape(16, 16) } });
        var header = new System.Text.Json.Nodes.JsonObject { ["model"] = spec.ToJson() };
        long full = 0;
        foreach (bool half in new[] { false, true })
        {
            var path = Path.Combine(_dir, half ? "half.acc" : "full.acc");
            Checkpoint.SaveCompact(path, header, model, half);
            using var after = model.call(x);
            Assert.Equal(0.0, MaxAbsDifference(expected, after));   // saving left the model as it was
            var (h, payload) = Checkpoint.Read(path);
            using var loaded = ModelSpec.FromJson(h["model"]!).Build();
            Checkpoint.LoadInto(payload, h, loaded);
            loaded.eval();
            Assert.All(loaded.parameters(), p => Assert.Equal(float32, p.dtype));
            using var y = loaded.call(x);
            double difference = MaxAbsDifference(expected, y);
            if (!half)
            {
                Assert.Equal(0.0, difference);
                full = new FileInfo(path).Length;
            }
            else
            {
                Assert.True(difference < 2e-2 * expected.abs().max().item<float>(),
                    $"float16 changed the logits by {difference}");
                Assert.InRange(new FileInfo(path).Length, full * 45 / 100, full * 55 / 100);
            }
        }
    }

    [Fact]
    public void A_materialized_export_is_the_plain_model()
    {
        using var model = TrainedResNet20();
        using var x = torch.randn(2, 3, 32, 32);
        using var noGrad = torch.no_grad();
        using var expected = model.call(x);
        Materializer.Materialize(model);
        var path = Path.Combine(_dir, "plain.pt");
        TorchFileWriter.Write(path, model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList());
        using var file = TorchFile.Read(path);
        using var plain = ModelZoo.Create("resnet20", new ModelOptions { Plain = true });
        ReferenceCheckpoint.LoadInto(plain, file, path);
        plain.eval();
        using var y = plain.call(x);
        Assert.True(MaxAbsDifference(expected, y) < 1e-4);
    }
}
