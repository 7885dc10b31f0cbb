using TorchSharp;

namespace AssocConv.Tests.Docs;

public class ReadmeExampleTests
{
    private static string Region(string marker)
    {
        var source = File.ReadAllText(Path.Combine(TestSupport.RepositoryRoot(),
            "tests/AssocConv.Tests/Docs/ReadmeExample.cs"));
        int start = source.IndexOf($"// <{marker}>", StringComparison.Ordinal);
        int end = source.IndexOf($"// </{marker}>", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"region {marker} not found");
        var lines = source[start..end].Split('\n').Skip(1).Select(l => l.Length >= 8 ? l[8..] : l.TrimStart());
        return string.Join('\n', lines).TrimEnd();
    }

    [Theory]
    [InlineData("readme", "README.md")]
    [InlineData("readme-associate", "docs/design.md")]
    [InlineData("readme-recipe", "README.md")]
    [InlineData("readme-onnx", "README.md")]
    public void The_documents_quote_the_examples_exactly(string marker, string document)
    {
        var text = File.ReadAllText(Path.Combine(TestSupport.RepositoryRoot(), document)).Replace("\r\n", "\n");
        Assert.Contains(Region(marker), text);
    }

    [Fact]
    public void The_example_trains_an_associative_model()
    {
        var (first, last, ratio) = ReadmeExample.Run();
        Assert.True(last < first * 0.5, $"loss {first} -> {last}");
        Assert.True(ratio > 2.5, $"ratio {ratio}");
    }

    [Fact]
    public void The_associate_example_compresses_resnet56_to_the_built_in_size()
    {
        var result = ReadmeExample.RunAssociate();
        Assert.Equal(853_018, result.TrainableBefore);
        Assert.Equal(160_450, result.TrainableAfter);
        Assert.Equal(54, result.Layers.Count);
        // Random kernels share little structure, so the best rank-72 fit of their 1,296-wide slices keeps about a
        // third of their energy (0.83 measured); an unfitted generator would be off by 1 or more, an exact fit by 0.
        Assert.InRange(result.RelativeError!.Value, 0.7, 0.9);
        // each layer's fit is a projection of its slices, so it never adds error (< 1), and is far from exact
        Assert.All(result.Layers, l => Assert.InRange(l.RelativeError!.Value, 0.3, 0.9999));
    }

    [Fact]
    public void The_recipe_example_trains_three_epochs_and_reports_both_accuracies()
    {
        var runs = Directory.CreateTempSubdirectory("assocconv-readme-").FullName;
        try
        {
            var result = ReadmeExample.RunRecipe(runs);
            Assert.True(result.Completed);
            Assert.Equal(3, result.History.Count);
            Assert.InRange(result.History[^1].TestAccuracy, 50, 100);   // ten classes: chance is 10%
            Assert.False(double.IsNaN(result.History[^1].TestAccuracyFlip));
            Assert.Contains("\"recipe\": \"fast\"", File.ReadAllText(Path.Combine(runs, "rn20", "config.json")));
            Assert.True(File.Exists(Path.Combine(runs, "rn20", "summary.json")), "the library run wrote no summary");
        }
        finally
        {
            Directory.Delete(runs, recursive: true);
        }
    }

    [Fact]
    public void The_onnx_example_predicts_what_the_model_predicts()
    {
        var dir = Directory.CreateTempSubdirectory("assocconv-readme-onnx-").FullName;
        try
        {
            torch.manual_seed(3);
            using var model = AssocConv.Models.ModelZoo.Create("resnet20");
            model.eval();
            double[] mean = [0.4914, 0.4822, 0.4465], std = [0.247, 0.2435, 0.2616];
            var classes = Enumerable.Range(0, 10).Select(i => $"class {i}").ToArray();
            var path = Path.Combine(dir, "rn20.onnx");
            AssocConv.Onnx.OnnxExport.Save(model, path, new AssocConv.Onnx.OnnxExportOptions
            {
                Form = AssocConv.Onnx.OnnxForm.Generator, Mean = mean, Std = std, ClassNames = classes,
                ModelDescription = "resnet20",
            });
            var random = new Random(4);
            for (int image = 0; image < 5; image++)
            {
                var rgb = new byte[3 * 32 * 32];
                random.NextBytes(rgb);
                using var x = torch.tensor(rgb.Select(b => (float)b / 255f).ToArray(), new long[] { 1, 3, 32, 32 });
                using var m = torch.tensor(mean.Select(v => (float)v).ToArray()).view(1, 3, 1, 1);
                using var s = torch.tensor(std.Select(v => (float)v).ToArray()).view(1, 3, 1, 1);
                using var _ = torch.no_grad();
                using var logits = model.call((x - m) / s);
                Assert.Equal(classes[logits.argmax(1).item<long>()], ReadmeExample.RunOnnx(path, rgb));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
