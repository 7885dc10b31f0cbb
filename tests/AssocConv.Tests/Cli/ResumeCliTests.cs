using System.Text.Json;
using TorchSharp;

namespace AssocConv.Tests.Cli;

/// <summary>Resuming from the command line: what it restores, what it refuses, what it cleans.</summary>
public sealed class ResumeCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-resume-").FullName;
    private readonly int _threads = torch.get_num_threads();

    public void Dispose()
    {
        torch.set_num_threads(_threads);
        Directory.Delete(_dir, recursive: true);
    }

    private string FinishedRun()
    {
        var run = Path.Combine(_dir, "run");
        var (code, _, err) = TestSupport.RunCli("train", "--model", "small-cnn", "--out", run, "--data", "sample",
            "--epochs", "1", "--train-limit", "300", "--val-split", "0", "--threads", "1");
        Assert.True(code == 0, err);
        return run;
    }

    // a finished run read back on other data would report its numbers under the other data's name
    [Fact]
    public void A_run_is_resumed_or_read_back_only_on_the_data_it_was_trained_on()
    {
        var folder = Path.Combine(_dir, "shapes");
        TestSupport.WriteImageFolder(folder, 10, ("red", SkiaSharp.SKColors.Red), ("blue", SkiaSharp.SKColors.Blue));
        var run = FinishedRun();
        var (code, _, err) = TestSupport.RunCli("train", "--resume", run, "--data", $"folder:{folder}");
        Assert.Equal(2, code);
        Assert.Contains($"{run} was trained on sample: 10 classes, 1x28x28, not folder:{folder}: 2 classes", err);
        // the sample's folder may move: the same kind of data, classes and shape are what counts
        (code, _, err) = TestSupport.RunCli("train", "--resume", run, "--data", "sample");
        Assert.True(code == 0, err);

        var compared = Path.Combine(_dir, "compare");
        string[] tiny = ["--model", "small-cnn", "--epochs", "1", "--train-limit", "64", "--threads", "1", "--out",
            compared];
        (code, _, err) = TestSupport.RunCli(["compare", "--data", "sample", .. tiny]);
        Assert.True(code == 0, err);
        (code, _, err) = TestSupport.RunCli(["compare", "--data", $"folder:{folder}", .. tiny]);
        Assert.Equal(2, code);
        Assert.Contains("was trained on sample: 10 classes, 1x28x28, not folder:", err);
    }

    [Fact]
    public void Resume_restores_the_recorded_threads_refuses_new_options_and_removes_abandoned_files()
    {
        var run = FinishedRun();
        int dead;
        using (var gone = System.Diagnostics.Process.Start("true")!) { gone.WaitForExit(); dead = gone.Id; }
        var abandoned = Path.Combine(run, $"last.ckpt.{dead}.tmp");
        var plot = Path.Combine(run, $"loss.png.{dead}.tmp.png");
        var ours = Path.Combine(run, $"best.ckpt.{Environment.ProcessId}.tmp");
        foreach (var f in new[] { abandoned, plot, ours }) File.WriteAllText(f, "half");

        var (code, _, err) = TestSupport.RunCli("train", "--resume", run, "--epochs", "3");
        Assert.Equal(2, code);
        Assert.Contains("--epochs cannot change it", err);

        torch.set_num_threads(2);
        (code, var stdout, err) = TestSupport.RunCli("train", "--resume", run, "--json");
        Assert.True(code == 0, err);
        Assert.Contains("has finished all 1 epochs; nothing to train", err);
        Assert.DoesNotContain("epoch 2", err);
        Assert.Equal(1, JsonDocument.Parse(stdout).RootElement.GetProperty("epochs_done").GetInt32());
        Assert.Equal(1, torch.get_num_threads());   // the run's count, not this process's
        Assert.False(File.Exists(abandoned));
        Assert.False(File.Exists(plot));
        Assert.True(File.Exists(ours));   // a running process's file is left alone

        (code, _, err) = TestSupport.RunCli("train", "--resume", run, "--threads", "2");
        Assert.True(code == 0, err);
        Assert.Contains("the run used 1 threads; with 2 it continues, but will not match", err);
    }

    [Fact]
    public void A_bfloat16_run_records_its_precision_and_resumes_in_it()
    {
        var run = Path.Combine(_dir, "bf16");
        var (code, _, err) = TestSupport.RunCli("train", "--model", "small-cnn", "--out", run, "--data", "sample",
            "--epochs", "2", "--train-limit", "300", "--val-split", "0", "--threads", "1", "--precision", "bf16");
        Assert.True(code == 0, err);
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json"))))
            Assert.Equal("bf16", config.RootElement.GetProperty("training").GetProperty("precision").GetString());
        var header = new AssocConv.Training.RunFolder(run).ReadHeader();
        Assert.Equal("bf16", (string?)header["training"]!["precision"]);

        (code, _, err) = TestSupport.RunCli("train", "--resume", run, "--precision", "float32");
        Assert.Equal(2, code);
        Assert.Contains("--precision cannot change it", err);

        (code, _, err) = TestSupport.RunCli("train", "--model", "small-cnn", "--out", Path.Combine(_dir, "bad"),
            "--data", "sample", "--precision", "fp8");
        Assert.Equal(2, code);
        Assert.Contains("--precision: 'fp8' is not a precision; use float32 or bf16", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "bad")));
    }
}
