using System.Diagnostics;
using System.Text.Json;
using AssocConv.Cli;
using AssocConv.Data;
using SkiaSharp;

namespace AssocConv.Tests.Cli;

public sealed class TrainCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => TestSupport.RunCli(args);

    private static readonly string[] Quick = ["--data", "sample", "--epochs", "1", "--train-limit", "500",
        "--val-split", "200", "--threads", "2"];

    [Fact]
    public void An_empty_test_set_trains_and_reports_no_test_accuracy()
    {
        // IDX files whose test set holds 0 images: valid, and empty
        var folder = Directory.CreateDirectory(Path.Combine(_dir, "no-test")).FullName;
        static byte[] Idx(int[] dims, byte[] data) =>
            [0, 0, 8, (byte)dims.Length, .. dims.SelectMany(d => BitConverter.GetBytes(d).Reverse()), .. data];
        var pixels = new byte[16 * 28 * 28];
        new Random(1).NextBytes(pixels);
        File.WriteAllBytes(Path.Combine(folder, "train-images-idx3-ubyte"), Idx([16, 28, 28], pixels));
        File.WriteAllBytes(Path.Combine(folder, "train-labels-idx1-ubyte"),
            Idx([16], Enumerable.Range(0, 16).Select(i => (byte)(i % 10)).ToArray()));
        File.WriteAllBytes(Path.Combine(folder, "t10k-images-idx3-ubyte"), Idx([0, 28, 28], []));
        File.WriteAllBytes(Path.Combine(folder, "t10k-labels-idx1-ubyte"), Idx([0], []));
        var (code, stdout, stderr) = Run("train", "--model", "small-cnn", "--data", $"fashion-mnist:{folder}",
            "--epochs", "1", "--val-split", "0", "--out", Path.Combine(_dir, "run"), "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains("the test set is empty", stderr);
        Assert.Contains("epoch 1/1", stderr);
        Assert.DoesNotContain("  best", stderr);   // no validation split: no epoch is chosen, none marked
        using var summary = JsonDocument.Parse(stdout);
        Assert.Equal(JsonValueKind.Null, summary.RootElement.GetProperty("last_test_accuracy").ValueKind);
    }

    [Fact]
    public void A_plot_that_cannot_be_written_is_a_warning_and_the_run_completes()
    {
        var run = Path.Combine(_dir, "plotless");
        // a folder where the plot goes: like a full disk, the write fails
        Directory.CreateDirectory(Path.Combine(run, "loss.png"));
        var (code, _, stderr) = Run(["train", "--model", "small-cnn", "--out", run, .. Quick]);
        Assert.True(code == 0, stderr);
        Assert.Contains("loss.png not written", stderr);
        Assert.True(File.Exists(Path.Combine(run, "last.ckpt")));
        Assert.True(File.Exists(Path.Combine(run, "accuracy.png")));
    }

    [Fact]
    public void Train_writes_the_run_folder_and_eval_and_predict_read_its_checkpoint()
    {
        var run = Path.Combine(_dir, "run");
        var (code, stdout, stderr) = Run(["train", "--model", "small-cnn", "--out", run, "--json", .. Quick]);
        Assert.True(code == 0, stderr);
        using var summary = JsonDocument.Parse(stdout);
        Assert.Equal(1, summary.RootElement.GetProperty("epochs_done").GetInt32());
        Assert.Contains("epoch 1/1", stderr);   // one plain line per epoch when stderr is not a terminal
        Assert.Contains("img/s  best", stderr);   // the epoch of the best validation accuracy is marked
        foreach (var file in new[] { "config.json", "metrics.csv", "last.ckpt", "best.ckpt", "summary.json", "loss.png",
            "accuracy.png" })
            Assert.True(File.Exists(Path.Combine(run, file)), file);
        Assert.Single(Directory.GetFiles(Path.Combine(run, "events"), "events.out.tfevents.*"));
        var csv = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.Equal("epoch,lr,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds,images_per_s," +
            "test_acc_flip", csv[0]);
        Assert.Equal(2, csv.Length);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json")));
        Assert.Equal(1, config.RootElement.GetProperty("model").GetProperty("input_channels").GetInt32());
        Assert.Equal(500, config.RootElement.GetProperty("split").GetProperty("train").GetInt64());
        Assert.Equal(200, config.RootElement.GetProperty("split").GetProperty("validation").GetInt64());
        Assert.Equal("channels-last",
            config.RootElement.GetProperty("training").GetProperty("memory_format").GetString());

        (code, stdout, stderr) = Run("eval", "--checkpoint", Path.Combine(run, "best.ckpt"), "--json");
        Assert.True(code == 0, stderr);
        using var eval = JsonDocument.Parse(stdout);
        Assert.Equal(2000, eval.RootElement.GetProperty("samples").GetInt64());
        Assert.Equal(summary.RootElement.GetProperty("best_test_accuracy").GetDouble(),
            eval.RootElement.GetProperty("accuracy").GetDouble(), 6);
        Assert.True(eval.RootElement.GetProperty("loss").GetDouble() > 0);
        Assert.Equal(10, eval.RootElement.GetProperty("per_class_accuracy").EnumerateObject().Count());
        Assert.Equal(2000,
            eval.RootElement.GetProperty("confusion").EnumerateArray().SelectMany(r => r.EnumerateArray()).Sum(v =>
                v.GetInt64()));

        // predict on a PNG made from a test image, scaled up: it is resized back to 28x28
        using var sample = Dataset.LoadSample();
        var png = Path.Combine(_dir, "boot.png");
        var pixels = sample.Test.Images[0, 0].data<byte>().ToArray();
        SKColor Grey(int x, int y) => new(pixels[y / 2 * 28 + x / 2], pixels[y / 2 * 28 + x / 2],
            pixels[y / 2 * 28 + x / 2]);
        TestSupport.WritePng(png, 56, 56, Grey, SKColorType.Gray8);
        (code, stdout, stderr) = Run("predict", "--checkpoint", Path.Combine(run, "best.ckpt"), "--top", "10", "--json",
            png);
        Assert.True(code == 0, stderr);
        using var predict = JsonDocument.Parse(stdout);
        var top =
            predict.RootElement[0].GetProperty("top").EnumerateArray().Select(t =>
            t.GetProperty("probability").GetDouble()).ToList();
        Assert.Equal(10, top.Count);
        Assert.Equal(1.0, top.Sum(), 4);
        Assert.Equal(top.OrderByDescending(p => p), top);

        // a long file name is printed whole, not cut to the table's width
        var longName = Path.Combine(_dir, new string('b', 90) + "-ankle-boot-photograph.png");
        File.Copy(png, longName);
        (code, stdout, stderr) = Run("predict", "--checkpoint", Path.Combine(run, "best.ckpt"), longName);
        Assert.True(code == 0, stderr);
        Assert.Contains(longName, stdout);

        (code, _, stderr) = Run("predict", "--checkpoint", Path.Combine(run, "best.ckpt"),
            Path.Combine(run, "config.json"));
        Assert.Equal(2, code);
        Assert.Contains("not an image", stderr);
        (code, _, stderr) = Run("predict", "--checkpoint", Path.Combine(run, "best.ckpt"), _dir);
        Assert.Equal(2, code);
        Assert.Contains("is a directory", stderr);
    }

    [Fact]
    public void A_folder_of_images_trains()
    {
        var folder = Path.Combine(_dir, "shapes");
        var colors = new[] { SKColors.Red, SKColors.Blue };
        for (int c = 0; c < 2; c++)
        {
            Directory.CreateDirectory(Path.Combine(folder, $"class{c}"));
            for (int i = 0; i < 20; i++)
            {
                var color = colors[c].WithAlpha((byte)(155 + 5 * i));
                TestSupport.WritePng(Path.Combine(folder, $"class{c}", $"{i:D2}.png"), 12 + i, 10, (_, _) => color,
                    alpha: SKAlphaType.Premul);
            }
        }
        var (train, test, normalization) = ImageFolderReader.Read(folder, size: 8);
        using (train) using (test)
        {
            Assert.Equal(36, train.Count);   // every tenth image of each class is the test set
            Assert.Equal(4, test.Count);
            Assert.Equal(new[] { "class0", "class1" }, train.ClassNames);
            Assert.True(train.Images[0, 0, 4, 4].item<byte>() > 150);   // red
            Assert.Equal(0, train.Images[0, 2, 4, 4].item<byte>());
            Assert.Equal(3, normalization.Channels);
        }
        var (code, _, stderr) = Run("train", "--model", "small-cnn", "--data", $"folder:{folder}", "--epochs", "1",
            "--val-split", "0", "--out", Path.Combine(_dir, "run"));
        Assert.True(code == 0, stderr);

        File.WriteAllText(Path.Combine(folder, "class1", "broken.png"), "not a png");
        (code, _, stderr) = Run("train", "--model", "small-cnn", "--data", $"folder:{folder}", "--epochs", "1", "--out",
            Path.Combine(_dir, "run2"));
        Assert.Equal(2, code);
        Assert.Contains("broken.png: not an image", stderr);
    }

    [Theory]
    [InlineData("--out RUN_DIR is required", "train", "--model", "small-cnn", "--data", "sample")]
    [InlineData("--data is required", "train", "--model", "small-cnn", "--out", "x")]
    [InlineData("unknown dataset 'imagenet'", "train", "--model", "small-cnn", "--data", "imagenet", "--out", "x")]
    [InlineData("no checkpoint to resume", "train", "--resume", "/nonexistent-run")]
    [InlineData("--binary-generator: a plain model", "train", "--model", "small-cnn", "--plain", "--binary-generator",
        "--data", "sample", "--out", "x")]
    [InlineData("no checkpoint at", "eval", "--checkpoint", "/nonexistent.ckpt")]
    [InlineData("--memory-format: unknown memory format 'nhcw'", "train", "--model", "small-cnn", "--data", "sample",
        "--out", "x", "--memory-format", "nhcw")]
    [InlineData("cannot be downloaded", "data", "download", "sample")]
    public void Mistakes_are_one_line_and_exit_2(string message, params string[] args)
    {
        var (code, _, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
    }

    private static Process Start(string args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "AssocConv.Cli.dll");
        var info = new ProcessStartInfo("dotnet", $"\"{dll}\" {args}") { RedirectStandardOutput = true,
            RedirectStandardError = true, UseShellExecute = false };
        var p = Process.Start(info)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>
    /// Waits (up to 2 minutes) until the run's first epoch is over (metrics.csv holds it and the accuracy plot,
    /// written after it, exists) or the process has ended. Plotting takes a while the first time on a slow machine:
    /// waiting for the metrics alone could interrupt the run before its second epoch had begun.
    /// </summary>
    private static void WaitForFirstEpoch(Process p, string run)
    {
        var metrics = Path.Combine(run, "metrics.csv");
        var plot = Path.Combine(run, "accuracy.png");
        var watch = Stopwatch.StartNew();
        while (!(File.Exists(metrics) && File.ReadAllLines(metrics).Length >= 2 && File.Exists(plot)) && !p.HasExited
            && watch.Elapsed < TimeSpan.FromMinutes(2))
            Thread.Sleep(20);
    }

    [Fact]
    public void A_run_killed_with_sigkill_resumes_from_its_last_checkpoint_to_the_same_result()
    {
        const string args = "train --model small-cnn --data sample --epochs 3 --train-limit 2000 --val-split 500 " +
            "--batch-size 50 --threads 2";
        var killed = Path.Combine(_dir, "killed");
        using (var p = Start($"{args} --out \"{killed}\""))
        {
            WaitForFirstEpoch(p, killed);   // killed as the second epoch starts, two epochs before the end
            Assert.False(p.HasExited, "the run ended before it could be killed");
            p.Kill(entireProcessTree: true);   // SIGKILL: no chance to save
            p.WaitForExit();
        }
        Assert.Empty(Directory.GetFiles(killed, "*.tmp"));
        using (var resumed = Start($"train --resume \"{killed}\" --threads 2"))
        {
            Assert.True(resumed.WaitForExit(120_000));
            Assert.Equal(0, resumed.ExitCode);
        }
        var whole = Path.Combine(_dir, "whole");
        using (var p = Start($"{args} --out \"{whole}\""))
        {
            Assert.True(p.WaitForExit(120_000));
            Assert.Equal(0, p.ExitCode);
        }
        Assert.Equal(TestSupport.MetricsWithoutTimes(whole), TestSupport.MetricsWithoutTimes(killed));
        Assert.Equal(3, TestSupport.MetricsWithoutTimes(killed).Length);
    }

    [Theory]
    [InlineData("INT")]    // what Ctrl+C sends
    [InlineData("TERM")]   // what kill, nohup's users, schedulers and systemd send
    public void Ctrl_c_or_sigterm_saves_mid_epoch_and_exits_cleanly_then_resumes(string signal)
    {
        var run = Path.Combine(_dir, "interrupted-" + signal);
        // 650 batches an epoch and a third epoch: a run of two epochs of 350 once ended in a fresh-clone CI run before
        // the signal came (after the first epoch's plot, which the wait below needs)
        using (var p = Start($"train --model small-cnn --data sample --epochs 3 --train-limit 7000 --val-split 500 " +
            $"--batch-size 10 --threads 2 --out \"{run}\""))
        {
            WaitForFirstEpoch(p, run);
            Thread.Sleep(100);
            Assert.False(p.HasExited, $"the run ended (exit code {(p.HasExited ? p.ExitCode : 0)}) before it could " +
                "be interrupted");
            using (var kill = Process.Start("kill", $"-{signal} {p.Id}")) kill.WaitForExit();
            Assert.True(p.WaitForExit(60_000));
            Assert.Equal(130, p.ExitCode);
        }
        var (header, _) = AssocConv.Training.Checkpoint.Read(Path.Combine(run, "last.ckpt"));
        Assert.InRange((int)header["progress"]!["next_epoch"]!, 1, 2);
        Assert.True((long)header["progress"]!["next_batch"]! > 0, "the checkpoint was taken mid-epoch");
        var (code, _, stderr) = Run("train", "--resume", run, "--threads", "2");
        Assert.True(code == 0, stderr);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);
    }
}
