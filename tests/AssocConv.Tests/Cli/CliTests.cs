using System.Diagnostics;
using System.Text.Json;
using AssocConv.Cli;
using AssocConv.Csg;
using AssocConv.Models;

namespace AssocConv.Tests.Cli;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CliApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Params_json_is_one_document_with_the_report_numbers()
    {
        var (code, stdout, stderr) = Run("params", "--model", "small-cnn", "--slice", "12x12", "--code-size", "72", "--json");
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
        Assert.Equal(12 * 12 * 9 * 72, root.GetProperty("groups").GetProperty("generator").GetProperty("trainable").GetInt64());
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
        Assert.Equal(doc.RootElement.GetProperty("trainable").GetInt64(), doc.RootElement.GetProperty("plain_trainable").GetInt64());
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
    [InlineData("depth 6n+4", "params", "--model", "densenet-bc-41-12")]
    [InlineData("slice '12x'", "params", "--model", "small-cnn", "--slice", "12x")]
    [InlineData("square slice", "params", "--model", "small-cnn", "--slice", "8x4")]
    [InlineData("kernel is larger", "params", "--model", "small-cnn", "--slice", "8x8x1x1")]
    [InlineData("--plain has no generator", "params", "--model", "small-cnn", "--plain", "--slice", "8x8")]
    [InlineData("code size must be at least 1", "params", "--model", "small-cnn", "--code-size", "0")]
    [InlineData("CUDA is not available", "params", "--model", "small-cnn", "--device", "cuda")]
    [InlineData("not a device", "params", "--model", "small-cnn", "--device", "tpu")]
    [InlineData("--threads must be 0 or more", "params", "--model", "small-cnn", "--threads", "-2")]
    [InlineData("'--model' is required", "params")]
    [InlineData("Cannot parse argument 'abc' for option '--code-size' as a whole number", "params", "--model", "small-cnn", "--code-size", "abc")]
    [InlineData("Required command was not provided", new string[0])]
    [InlineData("Unrecognized command or argument '--nope'", "params", "--model", "small-cnn", "--nope")]
    public void User_mistakes_print_one_clear_line_and_exit_2(string message, params string[] args)
    {
        var (code, stdout, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("   at ", stderr);   // no stack trace
    }

    [Fact]
    public void Blocked_layout_accepts_non_square_slices()
    {
        var (code, stdout, _) = Run("params", "--model", "small-cnn", "--slice", "8x4", "--layout", "Blocked", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("8x4x3x3", doc.RootElement.GetProperty("generator").GetProperty("slice").GetString());
    }

    [Fact]
    public void Models_lists_the_registry()
    {
        var (code, stdout, _) = Run("models", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Contains(doc.RootElement.EnumerateArray(), e => e.GetProperty("name").GetString() == "small-cnn");
    }

    [Fact]
    public void As_a_process_stdout_holds_only_the_json_document()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "AssocConv.Cli.dll");
        var info = new ProcessStartInfo("dotnet", $"\"{dll}\" params --model small-cnn --json --threads 1")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var p = Process.Start(info)!;
        var stdoutTask = p.StandardOutput.ReadToEndAsync();
        var stderrTask = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000));
        Assert.Equal(0, p.ExitCode);
        using var doc = JsonDocument.Parse(stdoutTask.Result);
        Assert.Equal("small-cnn", doc.RootElement.GetProperty("model").GetString());
        Assert.Contains("trainable", stderrTask.Result);
    }
}
