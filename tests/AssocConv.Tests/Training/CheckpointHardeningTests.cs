using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Interop;
using AssocConv.Models;
using AssocConv.Training;
using TorchSharp;
using static AssocConv.Tests.TestSupport;

namespace AssocConv.Tests.Training;

/// <summary>Edited, re-signed or poisoned AssocConv checkpoints: each is refused by name before anything large is
/// built.</summary>
public sealed class CheckpointHardeningTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-ckpt-").FullName;
    private static readonly TrainingOptions Tiny = new() { Epochs = 1, BatchSize = 50, TrainLimit = 200,
        ValidationSplit = 0, Seed = 5 };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // the format as documented: magic line, SHA-256 of the rest, header length, header, payload
    private static (JsonObject Header, byte[] Payload) Open(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal("ASSOCCONV-CHECKPOINT 2\n", Encoding.ASCII.GetString(bytes, 0, 23));
        long length = BitConverter.ToInt64(bytes, 23 + 32);
        var header = JsonNode.Parse(bytes.AsSpan(23 + 32 + 8, (int)length))!.AsObject();
        return (header, bytes[(int)(23 + 32 + 8 + length)..]);
    }

    private static void Resign(string path, JsonObject header, byte[] payload)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        byte[] body = [.. BitConverter.GetBytes((long)headerBytes.Length), .. headerBytes, .. payload];
        File.WriteAllBytes(path, [.. "ASSOCCONV-CHECKPOINT 2\n"u8, .. SHA256.HashData(body), .. body]);
    }

    private string SmallRun(string name, string model = "small-cnn")
    {
        using var data = Dataset.LoadSample();
        var run = Path.Combine(_dir, name);
        Trainer.Start(run, new ModelSpec(model, new ModelOptions()), data, Tiny).Run();
        return run;
    }

    [Fact]
    public void Editing_the_header_breaks_the_checksum()
    {
        var run = SmallRun("edited");
        var path = Path.Combine(run, RunFolder.LastCheckpointFile);
        var bytes = File.ReadAllBytes(path);
        var text = Encoding.ASCII.GetString(bytes);
        int at = text.IndexOf("\"layout\":\"Reference\"", StringComparison.Ordinal);
        Assert.True(at > 0);
        // same length, the other layout: a wrong model
        Encoding.ASCII.GetBytes("\"layout\":\"Blocked\"  ").CopyTo(bytes, at);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Read(path));
        Assert.Contains("does not match its SHA-256", e.Message);
        Assert.StartsWith(path, e.Message);
    }

    [Theory]
    [InlineData("code_size", 2_000_000_000, "out of range")]
    [InlineData("classes", 1_000_000_000, "out of range")]
    [InlineData("input_channels", -3, "out of range")]
    [InlineData("name", 0, "at most 2000")]
    public void A_resigned_header_out_of_range_is_refused_before_building(string field, int value, string expected)
    {
        var run = SmallRun("resigned-" + field);
        var path = Path.Combine(run, RunFolder.LastCheckpointFile);
        var (header, payload) = Open(path);
        header["model"]![field] = field == "name" ? "resnet20000000" : value;
        Resign(path, header, payload);
        long before = GC.GetTotalAllocatedBytes();
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(path));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
        Assert.True(GC.GetTotalAllocatedBytes() - before < 4L * new FileInfo(path).Length + 16_000_000);
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(path, e.Message);
    }

    [Theory]
    [InlineData("next_epoch", -3)]
    [InlineData("next_epoch", 7)]
    [InlineData("correct", 999_999)]
    [InlineData("history", 0)]
    public void Resuming_refuses_edited_progress(string field, int value)
    {
        var run = SmallRun("progress-" + field);
        var path = Path.Combine(run, RunFolder.LastCheckpointFile);
        var (header, payload) = Open(path);
        if (field == "history") header["history"]!.AsArray().Add(header["history"]![0]!.DeepClone());   // epoch 1 twice
        else header["progress"]![field] = value;
        Resign(path, header, payload);
        using var data = Dataset.LoadSample();
        var e = Assert.Throws<InvalidDataException>(() => Trainer.Resume(run, data));
        Assert.Contains("progress is invalid", e.Message);
    }

    [Fact]
    public void Weights_holding_nan_are_refused_by_name_in_both_formats()
    {
        using var model = new ModelSpec("small-cnn", new ModelOptions { NumClasses = 10, InputChannels = 1 }).Build();
        var (name, weight) = model.state_dict().First(kv => kv.Value.is_floating_point() && kv.Value.numel() > 1);
        using (torch.no_grad()) weight[0] = float.NaN;
        var path = Path.Combine(_dir, "nan.ckpt");
        Checkpoint.Save(path,
            new JsonObject { ["model"] = new ModelSpec("small-cnn",
                new ModelOptions { NumClasses = 10, InputChannels = 1 }).ToJson() }, model);
        var ours = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(path));
        Assert.Contains($"'{name}'", ours.Message);
        Assert.Contains("NaN", ours.Message);

        var exported = Path.Combine(_dir, "nan.pt");
        TorchFileWriter.Write(exported, model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList());
        using var file = TorchFile.Read(exported);
        using var target = new ModelSpec("small-cnn", new ModelOptions { NumClasses = 10, InputChannels = 1 }).Build();
        var theirs = Assert.Throws<InvalidDataException>(() => ReferenceCheckpoint.LoadInto(target, file, exported));
        Assert.Contains($"'{name}'", theirs.Message);

        var (code, _, err) = RunCli("eval", "--checkpoint", path, "--data", "sample");
        Assert.Equal(2, code);
        Assert.Contains("NaN", err);
    }

    // class names are printed in tables and predictions: names carrying a terminal escape sequence are refused, and
    // the message shows them as escapes, so nothing the file holds reaches the terminal raw
    [Fact]
    public void Class_names_with_control_characters_are_refused_and_never_printed_raw()
    {
        var run = SmallRun("escapes");
        var path = Path.Combine(run, RunFolder.BestCheckpointFile);
        var png = Path.Combine(_dir, "grey.png");
        WritePng(png, 28, 28, (_, _) => new SkiaSharp.SKColor(128, 128, 128));
        Assert.Equal(0, RunCli("predict", "--checkpoint", path, png).Code);   // the untouched file predicts

        var (header, payload) = Open(path);
        header["data"]!["class_names"]![3] = "\u001b]0;owned\u0007dress";
        Resign(path, header, payload);
        var (code, stdout, stderr) = RunCli("predict", "--checkpoint", path, png);
        Assert.Equal(2, code);
        Assert.Contains(@"class name 3 ('\u001B]0;owned\u0007dress') holds the control character U+001B", stderr);
        Assert.DoesNotContain('\u001b', stdout + stderr);
        Assert.DoesNotContain('\u0007', stdout + stderr);
        (code, _, stderr) = RunCli("export", "--checkpoint", path, "--onnx", "--out", Path.Combine(_dir, "e.onnx"));
        Assert.Equal(2, code);
        Assert.Contains("class name 3", stderr);

        header["data"]!["class_names"]![3] = "\u202Egnp.exe";   // shown reversed: 'exe.png'
        Resign(path, header, payload);
        (code, _, stderr) = RunCli("predict", "--checkpoint", path, png);
        Assert.Equal(2, code);
        Assert.Contains(@"('\u202Egnp.exe') holds the control character U+202E", stderr);
    }
}
