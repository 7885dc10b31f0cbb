using System.CommandLine;
using AssocConv.Csg;
using AssocConv.Models;
using TorchSharp;

namespace AssocConv.Cli;

/// <summary>Options shared by verbs, so every verb spells and checks them the same way.</summary>
internal static class CommonOptions
{
    public static Option<string> Device() => new("--device")
    {
        Description = "Where tensors live: cpu, cuda or cuda:N",
        DefaultValueFactory = _ => "cpu",
        Recursive = true,
    };

    public static Option<int> Threads() => new("--threads")
    {
        Description = "CPU threads for tensor work (0: libtorch's default)",
        DefaultValueFactory = _ => 0,
        Recursive = true,
    };

    public static Option<bool> Json() => new("--json")
    {
        Description = "Write exactly one JSON document to stdout; tables and messages go to stderr",
    };

    public static Option<string> Model() => new("--model")
    {
        Description = "Model name (see 'assocconv models')",
        Required = true,
    };

    public static Option<bool> Plain() => new("--plain")
    {
        Description = "The plain counterpart: every convolution ordinary, no generator",
    };

    public static Option<string?> Slice() => new("--slice")
    {
        Description = "Slice shape OUTxIN (3x3 kernels) or OUTxINxKHxKW, e.g. 12x12 or 16x16x1x1",
    };

    public static Option<int?> CodeSize() => new("--code-size")
    {
        Description = "Code vector length (the generator's input size)",
    };

    public static Option<SliceLayout?> Layout() => new("--layout")
    {
        Description = "How slices fill a kernel: Reference (the authors' rule) or Blocked",
    };

    /// <summary>Applies --threads and checks --device; returns the device to use.</summary>
    public static torch.Device ApplyRuntime(ParseResult result)
    {
        int threads = result.GetValue<int>("--threads");
        if (threads < 0) throw new UsageException($"--threads must be 0 or more, got {threads}");
        if (threads > 0) torch.set_num_threads(threads);

        string text = result.GetValue<string>("--device") ?? "cpu";
        torch.Device device;
        try
        {
            device = new torch.Device(text);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new UsageException($"--device '{text}' is not a device; use cpu, cuda or cuda:N");
        }
        if (device.type == DeviceType.CUDA && !torch.cuda.is_available())
            throw new UsageException(
                $"--device {text}: CUDA is not available (this build uses TorchSharp-cpu, or no GPU is present)");
        if (device.type is not (DeviceType.CPU or DeviceType.CUDA))
            throw new UsageException($"--device '{text}' is not supported; use cpu, cuda or cuda:N");
        return device;
    }

    /// <summary>Reads --model, --plain, --slice, --code-size and --layout into model options.</summary>
    public static (ModelEntry Entry, ModelOptions Options) ReadModel(ParseResult result,
        Option<string> model, Option<bool> plain, Option<string?> slice, Option<int?> codeSize, Option<SliceLayout?> layout)
    {
        ModelEntry entry;
        try { entry = ModelZoo.Get(result.GetValue(model)!); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }

        bool isPlain = result.GetValue(plain);
        string? sliceText = result.GetValue(slice);
        int? code = result.GetValue(codeSize);
        SliceLayout? layoutValue = result.GetValue(layout);
        if (isPlain && (sliceText is not null || code is not null || layoutValue is not null))
            throw new UsageException("--plain has no generator: leave out --slice, --code-size and --layout");
        if (isPlain) return (entry, new ModelOptions { Plain = true });

        var generator = entry.DefaultGenerator;
        if (sliceText is not null)
        {
            try { generator = generator with { Slice = SliceShape.Parse(sliceText) }; }
            catch (FormatException e) { throw new UsageException($"--slice: {e.Message}"); }
        }
        if (code is not null) generator = generator with { CodeSize = code.Value };
        if (layoutValue is not null) generator = generator with { Layout = layoutValue.Value };
        try { generator.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        return (entry, new ModelOptions { Generator = generator });
    }
}
