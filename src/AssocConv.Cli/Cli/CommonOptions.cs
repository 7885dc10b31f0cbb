using System.CommandLine;
using AssocConv.Tensors;
using TorchSharp;

namespace AssocConv.Cli;

/// <summary>Options shared by verbs, so every verb spells and checks them the same way.</summary>
internal static class CommonOptions
{
    private const string DeviceName = "--device";
    private const string ThreadsName = "--threads";

    public static Option<string> Device() => new(DeviceName)
    {
        Description = "Where tensors live: cpu, cuda or cuda:N",
        DefaultValueFactory = _ => "cpu",
        Recursive = true,
    };

    public static Option<int> Threads() => new(ThreadsName)
    {
        Description = "CPU threads for tensor work (0: libtorch's default)",
        DefaultValueFactory = _ => 0,
        Recursive = true,
    };

    public static Option<string> MemoryFormat() => new("--memory-format")
    {
        Description = "How batches are laid out in memory: channels-last (faster oneDNN convolutions) or contiguous",
        DefaultValueFactory = _ => "channels-last",
    };

    /// <summary>Reads a <see cref="MemoryFormat"/> option, as a usage error when misspelt.</summary>
    public static AssocConv.Tensors.MemoryFormat ReadMemoryFormat(ParseResult result, Option<string> option)
    {
        try { return AssocConv.Tensors.MemoryFormats.Parse(result.GetValue(option)!); }
        catch (ArgumentException e) { throw new UsageException($"{option.Name}: {e.Message}"); }
    }

    public static Option<bool> Json() => new("--json")
    {
        Description = "Write exactly one JSON document to stdout; tables and messages go to stderr",
    };

    private static int _reportingCorrections;

    /// <summary>
    /// On resume: the thread count the run recorded, unless --threads was given. Reductions summed in another
    /// order round differently, so a different count makes the resumed run drift from an uninterrupted one.
    /// </summary>
    public static void RestoreThreads(ParseResult result, int? recorded, TextWriter warnings)
    {
        if (recorded is not > 0) return;
        if (result.GetResult(ThreadsName) is System.CommandLine.Parsing.OptionResult { Implicit: false })
        {
            int given = result.GetValue<int>(ThreadsName);
            if (given != recorded)
                warnings.WriteLine($"assocconv: warning: the run used {recorded} threads; with " +
                    $"{(given == 0 ? "libtorch's default" : given.ToString())} " +
                    "it continues, but will not match an uninterrupted run exactly");
            return;
        }
        torch.set_num_threads(recorded.Value);
    }

    /// <summary>
    /// Applies --threads, keeps freed tensor memory for reuse (see GlibcMalloc), says on stderr when a convolution
    /// libtorch computes wrongly on this machine runs another way (see ConvolutionGuard) and checks --device; returns
    /// the device to use.
    /// </summary>
    public static torch.Device ApplyRuntime(ParseResult result)
    {
        AssocConv.Host.GlibcMalloc.KeepFreedMemory();
        if (Interlocked.Exchange(ref _reportingCorrections, 1) == 0)
            AssocConv.Native.ConvolutionGuard.Corrected += finding => Console.Error.WriteLine($"assocconv: " +
                $"warning: {finding}");
        int threads = result.GetValue<int>(ThreadsName);
        if (threads < 0) throw new UsageException($"--threads must be 0 or more, got {threads}");
        if (threads > 0) torch.set_num_threads(threads);

        string text = result.GetValue<string>(DeviceName) ?? "cpu";
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
}
