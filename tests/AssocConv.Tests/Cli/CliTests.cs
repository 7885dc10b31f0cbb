using System.Diagnostics;
using System.Text.Json;
using AssocConv.Cli;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Models;

namespace AssocConv.Tests.Cli;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => TestSupport.RunCli(args);

    [Fact]
    public void Params_json_is_one_document_with_the_report_numbers()
    {
        var (code, stdout, stderr) = Run("params", "--model", "small-cnn", "--slice", "12x12", "--code-size", "72",
            "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);   // throws if anything but one JSON document
        var root = doc.RootElement;
        var expected = ParameterReport.Of(new SmallCnn(new ModelOptions
        {
            Generator = SmallCnn.DefaultGenerator with { Slice = new SliceShape(12, 12), CodeSize = 72 },
        }));
        var plain = ParameterReport.Of(new SmallCnn(new ModelOptions { Plain = true }));
        Assert.Equal(expected.Trainable, root.GetProperty("trainable").GetInt64());
        Assert.Equal(plain.Trainable, root.GetProperty("plain_trainable").GetInt64());
        Assert.Equal(12 * 12 * 9 * 72,
            root.GetProperty("groups").GetProperty("generator").GetProperty("trainable").GetInt64());
        Assert.Equal(expected.Groups[ParameterGroup.Codes].Trainable,
            root.GetProperty("groups").GetProperty("codes").GetProperty("trainable").GetInt64());
        Assert.Contains("generator", stderr);   // the table went to stderr
    }

    [Fact]
    public void Params_plain_has_ratio_one()
    {
        var (code, stdout, _) = Run("params", "--model", "small-cnn", "--plain", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(doc.RootElement.GetProperty("trainable").GetInt64(),
            doc.RootElement.GetProperty("plain_trainable").GetInt64());
        Assert.Equal(1.0, doc.RootElement.GetProperty("ratio").GetDouble());
    }

    [Fact]
    public void Params_table_goes_to_stdout_without_json()
    {
        var (code, stdout, _) = Run("params", "--model", "small-cnn", "--slice", "16x16", "--code-size", "8");
        Assert.Equal(0, code);
        Assert.Contains("generator", stdout);
        Assert.Contains("ratio", stdout);
    }

    [Theory]
    [InlineData("unknown model 'vgg16'", "params", "--model", "vgg16")]
    [InlineData("depth is 6n+2", "params", "--model", "resnet21")]
    [InlineData("--associative: 'some'", "params", "--model", "resnet20", "--associative", "some")]
    [InlineData("--generator-init: 'xavier'", "params", "--model", "resnet20", "--generator-init", "xavier")]
    [InlineData("--classes must be at least 1", "params", "--model", "resnet20", "--classes", "0")]
    [InlineData("--plain has no generator", "params", "--model", "resnet20", "--plain", "--associative", "all")]
    [InlineData("kernel is larger", "params", "--model", "mobilenetv2", "--associative", "all-3x3")]
    [InlineData("depth 6n+4", "params", "--model", "densenet-bc-41-12")]
    [InlineData("slice '12x'", "params", "--model", "small-cnn", "--slice", "12x")]
    [InlineData("square slice", "params", "--model", "small-cnn", "--slice", "8x4")]
    [InlineData("kernel is larger", "params", "--model", "small-cnn", "--slice", "8x8x1x1")]
    [InlineData("--plain has no generator", "params", "--model", "small-cnn", "--plain", "--slice", "8x8")]
    [InlineData("code size must be at least 1", "params", "--model", "small-cnn", "--code-size", "0")]
    [InlineData("--no-batch-norm: only small-cnn", "params", "--model", "resnet20", "--no-batch-norm")]
    [InlineData("cutout is part of the augmentation", "train", "--model", "small-cnn", "--data", "sample", "--out",
        "never-made", "--cutout", "8", "--no-augment")]
    [InlineData("CUDA is not available", "params", "--model", "small-cnn", "--device", "cuda")]
    [InlineData("not a device", "params", "--model", "small-cnn", "--device", "tpu")]
    [InlineData("--threads must be 0 or more", "params", "--model", "small-cnn", "--threads", "-2")]
    [InlineData("'--model' is required", "params")]
    [InlineData("Cannot parse argument 'abc' for option '--code-size' as a whole number", "params", "--model",
        "small-cnn", "--code-size", "abc")]
    [InlineData("Required command was not provided", new string[0])]
    [InlineData("Unrecognized command or argument '--nope'", "params", "--model", "small-cnn", "--nope")]
    [InlineData("'trian'; did you mean 'train'?", "trian")]
    [InlineData("'--epoch'; did you mean '--epochs'?", "train", "--model", "small-cnn", "--epoch", "3")]
    [InlineData("'--thread'; did you mean '--threads'?", "params", "--model", "small-cnn", "--thread", "3")]
    // what the user or a file typed is quoted with its control characters as escapes, never raw
    [InlineData(@"no checkpoint at /tmp/no\u001B[2Jsuch.ckpt", "eval", "--checkpoint", "/tmp/no\u001b[2Jsuch.ckpt")]
    [InlineData(@"unknown model 'resnet\u202E02'", "params", "--model", "resnet\u202e02")]
    [InlineData(@"Cannot parse argument 'x\u0007'", "params", "--model", "small-cnn", "--code-size", "x\u0007")]
    public void User_mistakes_print_one_clear_line_and_exit_2(string message, params string[] args)
    {
        var (code, stdout, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("   at ", stderr);   // no stack trace
        Assert.DoesNotContain(stderr, c => DisplayText.IsUnsafe(c) && c != '\n');
    }

    [Fact]
    public void Predict_on_a_pytorch_file_says_to_import_it_first()
    {
        var file = Path.Combine(TestSupport.RepositoryRoot(), "tests/AssocConv.Tests/Fixtures/torch-save/zip.pt");
        var (code, _, stderr) = Run("predict", "--checkpoint", file, "x.png");
        Assert.Equal(2, code);
        Assert.Contains($"{file} is not an AssocConv checkpoint", stderr);
        Assert.Contains("assocconv import --checkpoint", stderr);
    }

    [Fact]
    public void Blocked_layout_accepts_non_square_slices()
    {
        var (code, stdout, _) = Run("params", "--model", "small-cnn", "--slice", "8x4", "--layout", "Blocked",
            "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("8x4x3x3", doc.RootElement.GetProperty("generator").GetProperty("slice").GetString());
    }

    [Theory]
    [InlineData("resnet20", "16x16", 72, 176_698)]
    [InlineData("densenet-bc-40-36", "12x12", 72, 842_842)]
    [InlineData("shufflenetv2", "16x16x1x1", 16, 171_818)]
    public void Params_gives_the_reference_counts_for_zoo_models(string model, string slice, int code, long trainable)
    {
        var (exit, stdout, _) = Run("params", "--model", model, "--slice", slice, "--code-size", code.ToString(),
            "--json");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(trainable, doc.RootElement.GetProperty("trainable").GetInt64());
        Assert.Equal("reference", doc.RootElement.GetProperty("associative").GetString());
    }

    [Fact]
    public void Generator_init_frozen_selection_and_classes_reach_the_model()
    {
        JsonElement Params(params string[] extra)
        {
            var (exit, stdout, stderr) = Run(["params", "--model", "densenet-bc-40-12", "--json", .. extra]);
            Assert.True(exit == 0, stderr);
            return JsonDocument.Parse(stdout).RootElement.Clone();
        }
        var binary = Params("--generator-init", "binary");
        Assert.Equal(12 * 12 * 9 * 72,
            binary.GetProperty("groups").GetProperty("generator").GetProperty("frozen").GetInt64());
        Assert.True(binary.GetProperty("generator").GetProperty("frozen").GetBoolean());
        var frozen = Params("--frozen-generator");
        Assert.Equal(0, frozen.GetProperty("groups").GetProperty("generator").GetProperty("trainable").GetInt64());
        Assert.Equal("KaimingNormal",
            Params("--generator-init", "kaiming").GetProperty("generator").GetProperty("init").GetString());
        var all = Params("--associative", "all");
        Assert.Equal(18 + 18 + 2, all.GetProperty("associative_layers").GetInt32());
        Assert.Equal("all", all.GetProperty("associative").GetString());
        var hundred = Params("--classes", "100");
        // DenseNet-BC-40-12 ends with 132 features (24 + 72 -> 48 + 72 -> 60 + 72): 90 more classes add 90 x 133
        Assert.Equal(Params().GetProperty("trainable").GetInt64() + 90 * 133,
            hundred.GetProperty("trainable").GetInt64());
    }

    [Fact]
    public void Models_lists_the_registry()
    {
        var (code, stdout, _) = Run("models", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        var listed = doc.RootElement.EnumerateArray().Select(e => (e.GetProperty("name").GetString()!,
            e.GetProperty("family").GetString()!, e.GetProperty("input_size").GetInt32(),
                e.GetProperty("classes").GetInt32())).ToList();
        Assert.Equal(ModelZoo.All.Select(e => (e.Name, e.Family, e.InputSize, e.Classes)), listed);
        Assert.Contains(("imagenet-resnet50", "imagenet-resnet", 224, 1000), listed);
        Assert.Contains(("resnet56", "cifar-resnet", 32, 10), listed);
    }

    [Fact]
    public void As_a_process_stdout_holds_only_the_json_document()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "AssocConv.Cli.dll");
        var (stdout, stderr) = TestSupport.RunProcess(new ProcessStartInfo("dotnet",
            $"\"{dll}\" params --model small-cnn --json --threads 1"), TimeSpan.FromMinutes(1));
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("small-cnn", doc.RootElement.GetProperty("model").GetString());
        Assert.Contains("trainable", stderr);
    }

    // the README's list is how a reader learns a verb exists: a verb added without it would stay unknown
    [Fact]
    public void The_readme_lists_every_verb_and_no_other()
    {
        var readme = File.ReadAllText(Path.Combine(TestSupport.RepositoryRoot(), "README.md"));
        var line = System.Text.RegularExpressions.Regex.Match(readme, @"lists the verbs: (?<verbs>[^.]+)\.");
        Assert.True(line.Success, "README: the line that lists the verbs is gone");
        var listed = System.Text.RegularExpressions.Regex.Matches(line.Groups["verbs"].Value, "`([^`]+)`")
            .Select(m => m.Groups[1].Value).Order();
        var root = CliApp.Build(TextWriter.Null, TextWriter.Null);
        var verbs = root.Subcommands.Where(c => !c.Hidden).SelectMany(c => c.Subcommands.Count == 0 ? [c.Name]
            : c.Subcommands.Where(s => !s.Hidden).Select(s => $"{c.Name} {s.Name}")).Order();
        Assert.Equal(verbs, listed);
    }
}
