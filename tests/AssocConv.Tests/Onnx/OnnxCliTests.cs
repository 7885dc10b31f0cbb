using System.Text.Json;
using AssocConv.Data;
using SkiaSharp;
using static AssocConv.Tests.TestSupport;

namespace AssocConv.Tests.Onnx;

public sealed class OnnxCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-onnx-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => RunCli(args);

    private const string Reference = "fixtures/reference-checkpoints/resnet20-csg-16x16-code72.t7";

    [SharedFact(Reference)]
    public void The_reference_resnet20_exported_both_ways_scores_its_accuracy_on_onnx_runtime_and_predicts_alike()
    {
        var data = "cifar10:" + SharedPath("datasets/cifar-10-batches-bin");
        var imported = Path.Combine(_dir, "rn20.ckpt");
        var (code, stdout, stderr) = Run("import", "--checkpoint", SharedPath(Reference), "--model", "resnet20",
            "--slice", "16x16", "--code-size", "72", "--data", data, "--out", imported);
        Assert.True(code == 0, stderr);

        // an image of the test set, as a PNG
        using var cifar = Dataset.Load(DatasetSpec.Parse(data));
        var png = Path.Combine(_dir, "test-0.png");
        var pixels = cifar.Test.Images[0].data<byte>().ToArray();   // [3, 32, 32]
        WritePng(png, 32, 32, (x, y) =>
            new SKColor(pixels[y * 32 + x], pixels[1024 + y * 32 + x], pixels[2048 + y * 32 + x]));
        (code, stdout, stderr) = Run("predict", "--checkpoint", imported, "--top", "10", "--json", png);
        Assert.True(code == 0, stderr);
        var expected = Probabilities(stdout);

        foreach (var form in new[] { "--onnx", "--onnx-generator" })
        {
            var onnx = Path.Combine(_dir, $"rn20{form}.onnx");
            (code, stdout, stderr) = Run("export", "--checkpoint", imported, form, "--out", onnx, "--json");
            Assert.True(code == 0, stderr);
            using (var doc = JsonDocument.Parse(stdout))   // export checked the file on ONNX Runtime
                Assert.True(doc.RootElement.GetProperty("onnx_runtime").GetProperty("relative_difference").GetDouble()
                    < 1e-4);
            // no --data: the file records its dataset (and the folder it was read from)
            (code, stdout, stderr) = Run("eval", "--onnx", onnx, "--json");
            Assert.True(code == 0, stderr);
            using (var doc = JsonDocument.Parse(stdout))
            {
                Assert.InRange(doc.RootElement.GetProperty("accuracy").GetDouble(), 91.62, 91.66);
                Assert.Equal(10_000, doc.RootElement.GetProperty("samples").GetInt64());
                Assert.Equal("resnet20", doc.RootElement.GetProperty("model").GetProperty("name").GetString());
            }
            (code, stdout, stderr) = Run("predict", "--onnx", onnx, "--top", "10", "--json", png);
            Assert.True(code == 0, stderr);
            var actual = Probabilities(stdout);
            Assert.Equal(expected.Select(p => p.Class), actual.Select(p => p.Class));
            Assert.All(expected.Zip(actual), p => Assert.InRange(p.Second.P - p.First.P, -1e-4, 1e-4));
        }
    }

    private static List<(string Class, double P)> Probabilities(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement[0].GetProperty("top").EnumerateArray()
            .Select(t => (t.GetProperty("class").GetString()!, t.GetProperty("probability").GetDouble())).ToList();
    }

    [Fact]
    public void Eval_and_predict_refuse_a_file_with_damaged_metadata_in_one_line()
    {
        var path = Path.Combine(_dir, "damaged.onnx");
        OnnxExportTests.WriteWithMetadata(path, "std", "0.2023,0,0.201");
        var png = Path.Combine(_dir, "grey.png");
        WritePng(png, 32, 32, (_, _) => new SKColor(128, 128, 128));
        foreach (var args in new[] { new[] { "eval", "--onnx", path, "--data", "sample" },
                     ["predict", "--onnx", path, png] })
        {
            var (code, _, stderr) = Run(args);
            Assert.True(code == 2, $"{args[0]}: exit {code}: {stderr}");
            Assert.Contains("metadata 'mean' and 'std': means (0.4914,0.4822,0.4465) must be finite and standard " +
                "deviations (0.2023,0,0.201) positive and finite", stderr);
            Assert.DoesNotContain("   at ", stderr);
        }
    }

    [Fact]
    public void Eval_refuses_a_file_that_is_not_onnx_in_one_line()
    {
        var notOnnx = Path.Combine(_dir, "not.onnx");
        File.WriteAllText(notOnnx, "hello");
        var (code, _, stderr) = Run("eval", "--onnx", notOnnx, "--data", "sample");
        Assert.Equal(2, code);
        Assert.Contains("ONNX Runtime cannot load it", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
