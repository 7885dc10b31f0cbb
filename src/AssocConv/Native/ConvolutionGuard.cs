using System.Collections.Concurrent;
using AssocConv.Csg;
using AssocConv.Models;
using AssocConv.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Native;

/// <summary>
/// Checks every float32 and bfloat16 convolution configuration once per process against float64 before trusting
/// libtorch's oneDNN with it: on some CPUs the oneDNN bundled with TorchSharp computes some configurations wrongly and
/// reports nothing (the cases found are in docs/convolution-guard.md).
/// <para>
/// A configuration is the input's shape and memory format, the weight's shape, stride, padding, dilation, groups and
/// which gradients are taken. Its first use runs it through libtorch on random data (a private generator: the global
/// random stream is untouched) and compares the output and, when training, the gradients autograd will take (input,
/// weight or both) with float64 computed as a
/// matrix product of unfolded patches (no convolution kernel involved) for the first images of the batch. The input's
/// own memory format is used when it agrees; otherwise the other format
/// (channels-last or contiguous NCHW) when that one does; when neither does the convolution is refused, since a wrong
/// result must not pass silently. <see cref="Prepare"/> does this for a convolution about to run; <see cref="Protect"/>
/// puts it in front of every convolution of a model, ordinary, associative or low-precision. The method and the models
/// know nothing of it: it is applied where models are built to run (the command line, <c>Trainer</c>,
/// <c>Checkpoint.LoadModel</c>). <c>ASSOCCONV_CONVOLUTION_CHECK=0</c> or <see cref="Enabled"/> = false turns it off.
/// </para>
/// </summary>
public static class ConvolutionGuard
{
    /// <summary>Largest relative difference (to the float64 result's largest magnitude) accepted as float32
    /// rounding.</summary>
    public const double Tolerance = 1e-3;

    /// <summary>
    /// The same for bfloat16, whose 8-bit mantissa rounds each output by up to 2^-9 of itself; the float64 reference
    /// starts from the same rounded inputs, so only the kernel's own arithmetic and output rounding are measured.
    /// </summary>
    public const double BFloat16Tolerance = 1e-2;

    private static readonly ConcurrentDictionary<Key, Lazy<MemoryFormat>> Verdicts = new();
    private static readonly ConcurrentQueue<string> FindingsQueue = new();

    /// <summary>Whether convolutions are checked (default: on unless <c>ASSOCCONV_CONVOLUTION_CHECK=0</c>).</summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("ASSOCCONV_CONVOLUTION_CHECK") != "0";

    /// <summary>Raised once for each configuration libtorch computed wrongly, with a line saying what is done
    /// instead.</summary>
    public static event Action<string>? Corrected;

    /// <summary>One line for each configuration found wrong in this process so far.</summary>
    public static IReadOnlyList<string> Findings => FindingsQueue.ToArray();

    /// <summary>Configurations checked in this process so far.</summary>
    public static int Checks => _checks;

    /// <summary>Time spent checking them, in seconds (what the guard costs besides ~12 microseconds a call).</summary>
    public static double CheckingSeconds =>
        Interlocked.Read(ref _checkingTicks) / (double)System.Diagnostics.Stopwatch.Frequency;

    private static int _checks;
    private static long _checkingTicks;

    private static Func<Tensor, Tensor, long[], long[], long[], long, Tensor?>? _faultForTests;

    /// <summary>
    /// Until disposed, the guard's checks ask <paramref name="faulty"/> first (it returns null for the configurations
    /// it leaves to libtorch), so a test can see a wrong convolution caught. Process-wide: the faults a test injects
    /// must be for configurations no other test uses.
    /// </summary>
    internal static IDisposable InjectFaultForTests(Func<Tensor, Tensor, long[], long[], long[], long, Tensor?> faulty)
    {
        var before = Interlocked.Exchange(ref _faultForTests, faulty);
        return new Restore(() => Interlocked.Exchange(ref _faultForTests, before));
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    /// <summary>
    /// <paramref name="input"/>, or a copy of it in the other memory format when libtorch computes this convolution
    /// wrongly in the input's format (gradients flow through the copy). Inputs that are not float32 or bfloat16 on the
    /// CPU (input and weight alike), not 4-d, in neither format, or with oneDNN switched off are returned unchanged.
    /// </summary>
    /// <exception cref="InvalidOperationException">libtorch computes this convolution wrongly in both
    /// formats.</exception>
    public static Tensor Prepare(Tensor input, Tensor weight, long[] stride, long[] padding, long[] dilation,
        long groups)
    {
        if (!Enabled || input.numel() == 0 || input.dtype is not (ScalarType.Float32 or ScalarType.BFloat16)
            || weight.dtype != input.dtype || input.device_type != DeviceType.CPU
            || input.ndim != 4 || weight.ndim != 4 || MemoryFormats.FormatOf(input) is not { } format
            || (OneDnn.IsAvailable && !OneDnn.Enabled))
            return input;
        // only the gradients autograd will compute are checked: a first layer's input needs none
        bool grad = is_grad_enabled();
        var key = new Key(input.dtype, format, new Dims(input.shape), new Dims(weight.shape), new Dims(stride),
            new Dims(padding), new Dims(dilation), groups, grad && input.requires_grad, grad && weight.requires_grad);
        var good = Verdicts.GetOrAdd(key, k => new Lazy<MemoryFormat>(() => Verify(k))).Value;
        return good == format ? input : input.ToMemoryFormat(good);
    }

    /// <summary>
    /// Checks every convolution below <paramref name="root"/> before it runs: each <see cref="Conv2d"/> (once per
    /// module; those with 'same' padding or a non-zero padding mode reach libtorch in another form and are left alone),
    /// <see cref="AssociativeConv2d"/> and <see cref="LowPrecisionConv2d"/>. Call it again after replacing layers
    /// (<c>Associator.Associate</c>, <c>MixedPrecision.Apply</c>); <c>Materializer</c> keeps a layer's guard.
    /// </summary>
    public static void Protect(nn.Module root)
    {
        foreach (var module in root.modules().Prepend(root))
            switch (module)
            {
                case AssociativeConv2d associative:
                    associative.InputGuard = Prepare;
                    break;
                case LowPrecisionConv2d lowPrecision:
                    lowPrecision.InputGuard = Prepare;
                    break;
                case Conv2d conv:
                    GuardedConv2d.Attach(conv, Prepare);
                    break;
            }
    }

    /// <summary>The first format that computes the configuration right: its own, else the other; throws when none
    /// does.</summary>
    private static MemoryFormat Verify(Key key)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try { return FirstRightFormat(key); }
        finally
        {
            Interlocked.Increment(ref _checks);
            Interlocked.Add(ref _checkingTicks, System.Diagnostics.Stopwatch.GetTimestamp() - started);
        }
    }

    private static MemoryFormat FirstRightFormat(Key key)
    {
        var other = key.Format == MemoryFormat.ChannelsLast ? MemoryFormat.Contiguous : MemoryFormat.ChannelsLast;
        var errors = new List<string>();
        foreach (var format in new[] { key.Format, other })
        {
            if (Check(key, format) is not { } error)
            {
                if (format != key.Format) Report($"{key}: {errors[0]}; computed in {format.Name()} instead");
                return format;
            }
            errors.Add($"{format.Name()}: {error}");
        }
        string message = $"libtorch computes the convolution {key} wrongly in both memory formats " +
            $"({string.Join("; ", errors)}); " +
                         "ONEDNN_MAX_CPU_ISA=AVX2 or switching libtorch's oneDNN off (OneDnn.Enabled = false) avoids " +
                             "the faulty kernels";
        Report(message);
        throw new InvalidOperationException(message);
    }

    /// <summary>Null when the key's type in <paramref name="format"/> agrees with float64; else what differs.</summary>
    /// <remarks>
    /// libtorch runs the whole configuration, batch included (oneDNN picks its kernel by the whole problem); the
    /// reference
    /// covers the first <see cref="ReferenceImages"/> images, and the output gradient is zero beyond them, so the
    /// weight
    /// gradient is theirs alone and the input gradient of the others must be zero.
    /// </remarks>
    private static string? Check(Key key, MemoryFormat format)
    {
        using var scope = NewDisposeScope();
        using var gradients = enable_grad();
        using var generator = new Generator(20211);
        var x32 = randn(key.Input, float32, generator: generator).to(key.Type).ToMemoryFormat(format);
        var w32 = randn(key.Weight, float32, generator: generator).to(key.Type);
        var w = w32.to(float64);
        double tolerance = key.Type == ScalarType.BFloat16 ? BFloat16Tolerance : Tolerance;
        long images = Math.Min(ReferenceImages, key.Input.Values[0]);
        var xs = x32[..(int)images].to(float64).contiguous();
        // the gradients to compare, as (float64 reference, libtorch) pairs: input first, then weight
        var wanted = new List<(Tensor Reference, Tensor Actual)>();
        if (key.InputGradient) wanted.Add((xs, x32));
        if (key.WeightGradient) wanted.Add((w, w32));
        foreach (var (float64Tensor, tensor) in wanted)
        {
            float64Tensor.requires_grad_();
            tensor.requires_grad_();
        }
        var reference = Reference(xs, w, key);
        var result = _faultForTests?.Invoke(x32, w32, key.Stride, key.Padding, key.Dilation, key.Groups)
                     ?? nn.functional.conv2d(x32, w32, strides: key.Stride, padding: key.Padding,
                         dilation: key.Dilation, groups: key.Groups);
        if (Difference(result[..(int)images], reference,
            tolerance) is { } forward) return $"forward off by {forward:G2}";
        if (wanted.Count == 0) return null;
        var g = randn(reference.shape, float32, generator: generator).to(key.Type).to(float64);
        var g32 = zeros(result.shape, key.Type);
        g32[..(int)images] = g.to(key.Type);
        var expected = autograd.grad([reference], wanted.Select(p => p.Reference).ToList(), [g]);
        var actual = autograd.grad([result], wanted.Select(p => p.Actual).ToList(), [g32.ToMemoryFormat(format)]);
        if (key.InputGradient)
        {
            var expectedInputGradient = zeros(key.Input, float64);
            expectedInputGradient[..(int)images] = expected[0];
            if (Difference(actual[0], expectedInputGradient,
                tolerance) is { } data) return $"input gradient off by {data:G2}";
        }
        if (key.WeightGradient && Difference(actual[^1], expected[^1], tolerance) is { } weights)
            return $"weight gradient off by {weights:G2}";
        return null;
    }

    /// <summary>Images of the batch the float64 reference computes.</summary>
    private const long ReferenceImages = 8;

    /// <summary>The convolution as a matrix product of <c>unfold</c>ed patches (no convolution kernel involved), in
    /// float64.</summary>
    private static Tensor Reference(Tensor x, Tensor w, Key key)
    {
        long n = x.shape[0], o = w.shape[0], groups = key.Groups;
        var (kh, kw) = (w.shape[2], w.shape[3]);
        var (s, p, d) = (key.Stride.Values, key.Padding.Values, key.Dilation.Values);
        long outH = (x.shape[2] + 2 * p[0] - d[0] * (kh - 1) - 1) / s[0] + 1;
        long outW = (x.shape[3] + 2 * p[1] - d[1] * (kw - 1) - 1) / s[1] + 1;
        var patches = nn.functional.unfold(x, (kh, kw), dilation: (d[0], d[1]), padding: (p[0], p[1]),
            stride: (s[0], s[1]));
        var grouped = patches.view(n, groups, -1, outH * outW);                  // [N, G, C/G*kh*kw, L]
        var kernels = w.view(groups, o / groups, -1).unsqueeze(0);               // [1, G, O/G, C/G*kh*kw]
        return kernels.matmul(grouped).view(n, o, outH, outW);
    }

    /// <summary>The relative difference when above <paramref name="tolerance"/> (or not finite), else null.</summary>
    private static double? Difference(Tensor actual, Tensor expected, double tolerance)
    {
        double scale = expected.abs().max().item<double>();
        double difference = (actual.detach().to(float64) - expected.detach()).abs().max().item<double>()
            / Math.Max(scale, double.Epsilon);
        return difference <= tolerance ? null : difference;
    }

    private static void Report(string finding)
    {
        FindingsQueue.Enqueue(finding);
        Corrected?.Invoke(finding);
    }

    /// <summary>Dimensions compared by value (arrays are not).</summary>
    private readonly record struct Dims(long[] Values)
    {
        public bool Equals(Dims other) => Values.AsSpan().SequenceEqual(other.Values);
        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (long v in Values) hash.Add(v);
            return hash.ToHashCode();
        }
        public override string ToString() => string.Join("x", Values);
        public static implicit operator long[](Dims s) => s.Values;
    }

    private readonly record struct Key(ScalarType Type, MemoryFormat Format, Dims Input, Dims Weight, Dims Stride,
        Dims Padding, Dims Dilation, long Groups, bool InputGradient, bool WeightGradient)
    {
        public override string ToString() =>
            $"{(Type == ScalarType.BFloat16 ? "bfloat16 " : "")}input {Input} ({Format.Name()}), weight {Weight}, " +
                $"stride {Stride}, padding {Padding}" +
            (Dilation.Values.Any(d => d != 1) ? $", dilation {Dilation}" : "")
                + (Groups != 1 ? $", groups {Groups}" : "") +
            (InputGradient && WeightGradient ? ", training" : WeightGradient ? ", training (weight gradient)"
                : InputGradient ? ", training (input gradient)" : ", inference");
    }
}
