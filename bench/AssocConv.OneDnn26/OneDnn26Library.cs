using System.Diagnostics;
using System.Runtime.InteropServices;

namespace AssocConv.OneDnn26;

/// <summary>
/// The native shim (native/onednn26_conv.cpp) over Debian's oneDNN 2.x (<c>libdnnl.so.2</c>), compiled with g++ next to
/// this program on first use, when missing or older than its source.
/// </summary>
internal static partial class OneDnn26Library
{
    private const string Name = "onednn26_conv";

    static OneDnn26Library() => NativeLibrary.SetDllImportResolver(typeof(OneDnn26Library).Assembly,
        (name, assembly, path) => name == Name ? NativeLibrary.Load(Build()) : IntPtr.Zero);

    [LibraryImport(Name, EntryPoint = "onednn26_version")]
    private static partial int VersionCode();

    [LibraryImport(Name, EntryPoint = "onednn26_last_error")]
    private static partial IntPtr LastError();

    [LibraryImport(Name, EntryPoint = "onednn26_forward")]
    private static partial int ForwardNative(IntPtr x, IntPtr weights, IntPtr y, long n, long c, long h, long w, long o, long k, long stride, long pad);

    [LibraryImport(Name, EntryPoint = "onednn26_backward_data")]
    private static partial int BackwardDataNative(IntPtr dy, IntPtr weights, IntPtr dx, long n, long c, long h, long w, long o, long k, long stride, long pad);

    [LibraryImport(Name, EntryPoint = "onednn26_backward_weights")]
    private static partial int BackwardWeightsNative(IntPtr x, IntPtr dy, IntPtr dweights, long n, long c, long h, long w, long o, long k, long stride, long pad);

    /// <summary>oneDNN's version, e.g. 2.6.3.</summary>
    public static string Version
    {
        get { int v = VersionCode(); return $"{v / 10000}.{v / 100 % 100}.{v % 100}"; }
    }

    public static void Forward(IntPtr x, IntPtr weights, IntPtr y, ConvShape s) =>
        Check(ForwardNative(x, weights, y, s.N, s.C, s.H, s.W, s.O, s.K, s.Stride, s.Pad), "forward");

    public static void BackwardData(IntPtr dy, IntPtr weights, IntPtr dx, ConvShape s) =>
        Check(BackwardDataNative(dy, weights, dx, s.N, s.C, s.H, s.W, s.O, s.K, s.Stride, s.Pad), "data gradient");

    public static void BackwardWeights(IntPtr x, IntPtr dy, IntPtr dweights, ConvShape s) =>
        Check(BackwardWeightsNative(x, dy, dweights, s.N, s.C, s.H, s.W, s.O, s.K, s.Stride, s.Pad), "weight gradient");

    private static void Check(int status, string what)
    {
        if (status != 0)
            throw new InvalidOperationException($"oneDNN 2 {what}: {Marshal.PtrToStringUTF8(LastError())}");
    }

    private static string Build()
    {
        string source = Path.Combine(AppContext.BaseDirectory, "native", "onednn26_conv.cpp");
        string library = Path.Combine(AppContext.BaseDirectory, "native", "libonednn26_conv.so");
        if (File.Exists(library) && File.GetLastWriteTimeUtc(library) >= File.GetLastWriteTimeUtc(source))
            return library;
        if (!File.Exists("/usr/include/oneapi/dnnl/dnnl.hpp") && !File.Exists("/usr/include/dnnl.hpp"))
            throw new InvalidOperationException("oneDNN 2's headers are missing: install Debian's libdnnl-dev (and g++)");
        var info = new ProcessStartInfo("g++") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-O2", "-shared", "-fPIC", source, "-o", library, "-ldnnl" }) info.ArgumentList.Add(a);
        using var compiler = Process.Start(info) ?? throw new InvalidOperationException("g++ did not start");
        string errors = compiler.StandardError.ReadToEnd();
        compiler.WaitForExit();
        if (compiler.ExitCode != 0)
            throw new InvalidOperationException($"compiling {source} failed:\n{errors}");
        return library;
    }
}

/// <summary>A convolution's shape: batch, input channels and size, output channels, square kernel, stride, padding.</summary>
internal readonly record struct ConvShape(long N, long C, long H, long W, long O, long K, long Stride, long Pad)
{
    public long OutH => (H + 2 * Pad - K) / Stride + 1;
    public long OutW => (W + 2 * Pad - K) / Stride + 1;
}
