using System.Runtime.InteropServices;
using TorchSharp;

namespace AssocConv.Native;

/// <summary>
/// libtorch's switch for its oneDNN (MKL-DNN) CPU kernels, PyTorch's <c>torch.backends.mkldnn.enabled</c>, which
/// TorchSharp 0.107 does not bind. It is reached through the C++ functions libtorch exports,
/// <c>at::globalContext()</c> and <c>at::Context::{set}UserEnabledMkldnn</c>, by their Itanium-ABI names: Linux and
/// macOS builds of libtorch only; elsewhere <see cref="IsAvailable"/> is false. For benchmarks: oneDNN on (libtorch's
/// default) is the fast setting for fp32 convolutions.
/// </summary>
public static class OneDnn
{
    private const string Library = "torch_cpu";

    [DllImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool UserEnabledMkldnn(IntPtr context);

    [DllImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    private static readonly Lazy<IntPtr> Context = new(() =>
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);   // loads libtorch before we look into it
            var context = GlobalContext();
            UserEnabledMkldnn(context);   // all three entry points must resolve
            SetUserEnabledMkldnn(context, UserEnabledMkldnn(context));
            return context;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return IntPtr.Zero;
        }
    });

    /// <summary>Whether this libtorch build exposes the switch to this process.</summary>
    public static bool IsAvailable => Context.Value != IntPtr.Zero;

    /// <summary>Whether libtorch may use its oneDNN kernels (convolutions, among others).</summary>
    /// <exception cref="PlatformNotSupportedException">The switch is not reachable (<see cref="IsAvailable"/> is
    /// false).</exception>
    public static bool Enabled
    {
        get => UserEnabledMkldnn(Require());
        set => SetUserEnabledMkldnn(Require(), value);
    }

    private static IntPtr Require() => IsAvailable ? Context.Value
        : throw new PlatformNotSupportedException("libtorch's oneDNN switch is not reachable from this process " +
            "(libtorch_cpu without the Itanium-ABI symbols at::globalContext / at::Context::setUserEnabledMkldnn)");
}
