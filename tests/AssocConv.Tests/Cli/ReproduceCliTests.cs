using System.Text.Json;

namespace AssocConv.Tests.Cli;

/// <summary>compare with several seeds and reproduce: their files, their tables, and that finished runs are read back,
/// not redone.</summary>
public sealed class ReproduceCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-reproduce-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => TestSupport.RunCli(args);

    private static readonly string[] Tiny = ["--data", "sample", "--epochs", "1", "--train-limit", "256",
        "--batch-size", "64", "--threads", "2"];

    [Fact]
    public void Reproduce_writes_its_table_reads_finished_rows_back_and_refuses_a_folder_made_otherwise()
    {
        var root = Path.Combine(_dir, "paper");
        var (code, stdout, stderr) = Run(["reproduce", "--rows", "resnet20", "--out", root, "--json", .. Tiny]);
        Assert.True(code == 0, stderr);
        using (var report = JsonDocument.Parse(stdout))
        {
            Assert.Equal("fast", report.RootElement.GetProperty("recipe").GetString());
            var row = Assert.Single(report.RootElement.GetProperty("rows").EnumerateArray());
            // the sample has one channel: the first convolution has 16 x 1 x 3 x 3 weights instead of 16 x 3 x 3 x 3
            Assert.Equal(269_722 - 3 * 16 * 9 + 1 * 16 * 9,
                row.GetProperty("plain").GetProperty("trainable").GetInt64());
            Assert.Equal("16x16x3x3", row.GetProperty("slice").GetString());
            Assert.True(row.GetProperty("associative").GetProperty("test_accuracy_flip").GetDouble() >= 0);
        }
        var table = File.ReadAllText(Path.Combine(root, "results.md"));
        Assert.Contains("| resnet20 | 16x16x3x3, 72 | 1 |", table);
        Assert.True(File.Exists(Path.Combine(root, "results.png")));
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "resnet20", "associative",
            "config.json"))))
            Assert.Equal("FanIn", config.RootElement.GetProperty("model").GetProperty("code_init").GetString());

        // a second call reads both runs back without training
        var checkpoint = Path.Combine(root, "resnet20", "plain", "last.ckpt");
        var written = File.GetLastWriteTimeUtc(checkpoint);
        (code, _, stderr) = Run(["reproduce", "--rows", "resnet20", "--out", root, .. Tiny]);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("epoch 1/1", stderr);
        Assert.Equal(written, File.GetLastWriteTimeUtc(checkpoint));

        // the same folder with another budget is refused, naming what differs
        (code, _, stderr) = Run(["reproduce", "--rows", "resnet20", "--out", root, "--label-smoothing", "0.2",
            .. Tiny]);
        Assert.Equal(2, code);
        Assert.Contains("label_smoothing 0.1, asked 0.2", stderr);
        (code, _, stderr) = Run(["reproduce", "--rows", "resnet21", "--out", root, .. Tiny]);
        Assert.Equal(2, code);
        Assert.Contains("'resnet21' is not a row", stderr);
    }

    [Fact]
    public void Without_epochs_each_row_trains_its_own_budget()
    {
        // a one-epoch ResNet-56 row, then the same folder asked for with no --epochs: the refusal names the budget
        // the row would have trained
        var root = Path.Combine(_dir, "budget");
        string[] tiny = ["--rows", "resnet56", "--out", root, "--data", "sample", "--train-limit", "64", "--batch-size",
            "64", "--threads", "2"];
        var (code, _, stderr) = Run(["reproduce", "--epochs", "1", .. tiny]);
        Assert.True(code == 0, stderr);
        Assert.Contains("| resnet56 | 12x12x3x3, 72 | 1 |", File.ReadAllText(Path.Combine(root, "results.md")));
        (code, _, stderr) = Run(["reproduce", .. tiny]);
        Assert.Equal(2, code);
        Assert.Contains("epochs 1, asked 30", stderr);   // the fast recipe's budget for ResNet-56, not its 40
        (code, _, stderr) = Run(["reproduce", "--recipe", "reference", .. tiny]);
        Assert.Equal(2, code);
        Assert.Contains("epochs 1, asked 200", stderr);  // the reference recipe's own
    }

    [Fact]
    public void Rows_of_one_model_train_their_plain_twin_once()
    {
        var root = Path.Combine(_dir, "twins");
        string[] tiny = ["--out", root, "--epochs", "1", "--data", "sample", "--train-limit", "64", "--batch-size",
            "64", "--threads", "2"];
        var (code, stdout, stderr) = Run(["reproduce", "--rows", "resnet56", .. tiny]);
        Assert.True(code == 0, stderr);
        var twin = Path.GetFullPath(Path.Combine(root, "resnet56", "plain"));
        var written = File.GetLastWriteTimeUtc(Path.Combine(twin, "last.ckpt"));

        // another recipe: resnet56's plain run is not this row's twin, so the row trains its own
        (code, _, stderr) = Run(["reproduce", "--rows", "resnet56-16x16-code128", "--label-smoothing", "0.2", .. tiny]);
        Assert.True(code == 0, stderr);
        var own = Path.Combine(root, "resnet56-16x16-code128");
        Assert.Contains($"run 1 of 2: plain, seed 1 ({Path.Combine(own, "plain")})", stderr);
        Assert.True(File.Exists(Path.Combine(own, "plain", "last.ckpt")));
        Directory.Delete(own, recursive: true);

        // the same recipe: the plain run is read back from resnet56's folder, not trained again
        (code, stdout, stderr) = Run(["reproduce", "--rows", "resnet56,resnet56-16x16-code128", "--json", .. tiny]);
        Assert.True(code == 0, stderr);
        Assert.Contains($"run 1 of 2: plain, seed 1 ({twin}: the same model and recipe, trained once)", stderr);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(twin, "last.ckpt")));
        Assert.False(Directory.Exists(Path.Combine(own, "plain")));
        Assert.True(File.Exists(Path.Combine(own, "associative", "last.ckpt")));
        using var report = JsonDocument.Parse(stdout);
        var rows = report.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(JsonValueKind.Null, rows[0].GetProperty("plain_of_row").ValueKind);
        Assert.Equal("resnet56", rows[1].GetProperty("plain_of_row").GetString());
        Assert.Equal(rows[0].GetProperty("plain").GetProperty("run").GetString(),
            rows[1].GetProperty("plain").GetProperty("run").GetString());
        Assert.Equal(rows[0].GetProperty("plain").GetProperty("test_accuracy").GetDouble(),
            rows[1].GetProperty("plain").GetProperty("test_accuracy").GetDouble());
        Assert.NotEqual(rows[0].GetProperty("associative").GetProperty("trainable").GetInt64(),
            rows[1].GetProperty("associative").GetProperty("trainable").GetInt64());
        Assert.Contains("resnet56-16x16-code128: the plain run is resnet56's (the same model and recipe, trained once)",
            File.ReadAllText(Path.Combine(root, "results.md")));
    }

    [Fact]
    public void Compare_with_two_seeds_trains_four_runs_and_draws_every_curve()
    {
        var root = Path.Combine(_dir, "cmp");
        var (code, stdout, stderr) = Run(["compare", "--model", "small-cnn", "--recipe", "fast", "--seeds", "1,2",
            "--out", root, "--json", .. Tiny]);
        Assert.True(code == 0, stderr);
        using var report = JsonDocument.Parse(stdout);
        var runs = report.RootElement.GetProperty("variants").EnumerateArray()
            .Select(v => (v.GetProperty("variant").GetString(), v.GetProperty("seed").GetInt64())).ToList();
        Assert.Equal(new (string?, long)[] { ("plain", 1), ("associative", 1), ("plain", 2), ("associative", 2) },
            runs);
        foreach (var (variant, seed) in runs)
            Assert.True(File.Exists(Path.Combine(root, $"seed-{seed}", variant!, "last.ckpt")));
        Assert.True(File.Exists(Path.Combine(root, "compare-accuracy.png")));
        Assert.Contains($"run 4 of 4: associative, seed 2 ({Path.Combine(root, "seed-2", "associative")})", stderr);
        Assert.All(report.RootElement.GetProperty("variants").EnumerateArray(),
            // the fast recipe measures it
            v => Assert.True(v.GetProperty("last_test_accuracy_flip").GetDouble() > 0));
        // the two seeds give two different plain runs
        var accuracies =
            report.RootElement.GetProperty("variants").EnumerateArray().Select(v =>
            v.GetProperty("last_test_accuracy").GetDouble()).ToList();
        Assert.NotEqual(accuracies[0], accuracies[2]);

        // each variant's mean over the seeds, and the gap between the means
        var means = report.RootElement.GetProperty("means");
        double plain = (accuracies[0] + accuracies[2]) / 2, associative = (accuracies[1] + accuracies[3]) / 2;
        Assert.Equal(plain, means.GetProperty("plain").GetProperty("last_test_accuracy").GetDouble(), 9);
        Assert.Equal(associative, means.GetProperty("associative").GetProperty("last_test_accuracy").GetDouble(), 9);
        Assert.Equal(associative - plain, means.GetProperty("gap").GetProperty("test_accuracy").GetDouble(), 9);
        // and in the table a second call prints, reading the four runs back
        (code, stdout, stderr) = Run(["compare", "--model", "small-cnn", "--recipe", "fast", "--seeds", "1,2",
            "--out", root, .. Tiny]);
        Assert.True(code == 0, stderr);
        Assert.Contains($"{associative:F2}%", stdout);
        Assert.Contains($"associative - plain, means of 2 seeds: {associative - plain:+0.00;-0.00} points", stdout);
    }
}
