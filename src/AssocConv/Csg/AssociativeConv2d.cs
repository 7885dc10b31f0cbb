using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>
/// A 2-D convolution whose kernel is never stored: it is generated from this layer's own code
/// matrix (<c>[NumSlices, CodeSize]</c>, one code per slice) by the model's shared
/// <see cref="ConvolutionalSliceGenerator"/>, laid out by the generator's <see cref="SliceLayout"/>
/// and cropped to the layer's exact shape.
/// </summary>
/// <remarks>
/// While training, every forward regenerates the kernel so gradients reach codes and generator.
/// In evaluation, when no gradient is needed (under <c>torch.no_grad()</c> or with everything
/// frozen), the kernel is generated once and reused, so inference costs what a plain convolution
/// costs. TorchSharp has no tensor version counter, so the cache is dropped explicitly: on every
/// mode switch, on any forward that needs gradients (an optimiser step may follow), on a device or
/// dtype change, and by <see cref="InvalidateKernel"/> / <see cref="ConvolutionalSliceGenerator.InvalidateKernels"/>
/// (or <see cref="KernelCache.InvalidateKernels"/> for a whole model) after changing weights by hand or loading them.
/// </remarks>
public sealed class AssociativeConv2d : nn.Module<Tensor, Tensor>
{
    private readonly ConvolutionalSliceGenerator _generator;
    private Tensor? _cachedKernel;
    private long _cachedGeneratorVersion = -1;
    private long _kernelGenerations;

    // Named exactly as registered: TorchSharp's to() replaces a parameter by finding the field of that
    // name. `code` is null while a parent module hosts the code (see HostCodeIn).
    private Parameter? code;
    private Parameter? bias;
    private (nn.Module Module, string Name)? _codeHost;

    /// <summary>The trainable code matrix, <c>[NumSlices, CodeSize]</c>: this layer's own, or the one its host
    /// registers.</summary>
    public Parameter Code => code ?? HostedCode();

    /// <summary>The optional bias, <c>[OutChannels]</c>, or null.</summary>
    public Parameter? Bias => bias;

    /// <summary>
    /// The module and parameter name under which the code is registered when a parent hosts it
    /// (<see cref="HostCodeIn"/>); null when this layer registers it itself as <c>code</c>.
    /// </summary>
    public (nn.Module Module, string Name)? CodeHost => _codeHost;

    /// <summary>
    /// The type the convolution computes in, or null for the input's own. With <see cref="ScalarType.BFloat16"/> the
    /// input and the generated kernel are rounded to it for the convolution alone and its result comes back in the
    /// input's type, as PyTorch's CPU autocast treats a convolution; codes, generator and gradients stay float32.
    /// </summary>
    public ScalarType? ComputeType { get; set; }

    /// <summary>Passes the input on to libtorch in the form it computes right (see <see
    /// cref="ConvolutionInputGuard"/>); none by default.</summary>
    public ConvolutionInputGuard? InputGuard { get; set; }

    /// <summary>The shared generator (not registered here: the model registers it once).</summary>
    public ConvolutionalSliceGenerator Generator => _generator;

    /// <summary>Input channels.</summary>
    public long InChannels { get; }
    /// <summary>Output channels.</summary>
    public long OutChannels { get; }
    /// <summary>Kernel height and width.</summary>
    public (long Height, long Width) KernelSize { get; }
    /// <summary>Stride (rows, columns).</summary>
    public (long Height, long Width) Stride { get; }
    /// <summary>Zero padding (rows, columns).</summary>
    public (long Height, long Width) Padding { get; }
    /// <summary>Dilation (rows, columns).</summary>
    public (long Height, long Width) Dilation { get; }
    /// <summary>Channel groups (<c>InChannels</c> for depthwise).</summary>
    public long Groups { get; }

    /// <summary>Input channels each output channel sees: <c>InChannels / Groups</c>.</summary>
    public long InChannelsPerGroup => InChannels / Groups;

    /// <summary>Rows of the slice grid (slices along the output channels).</summary>
    public long SliceRows { get; }
    /// <summary>Columns of the slice grid (slices along the input channels of one group).</summary>
    public long SliceColumns { get; }
    /// <summary>Number of slices, and so of codes: <c>SliceRows * SliceColumns</c>.</summary>
    public long NumSlices => SliceRows * SliceColumns;

    /// <summary>Weights of the equivalent plain kernel (<c>out * in/groups * kh * kw</c>).</summary>
    public long PlainKernelElements => OutChannels * InChannelsPerGroup * KernelSize.Height * KernelSize.Width;

    /// <summary>How many times this layer has generated its kernel (for tests and profiling).</summary>
    public long KernelGenerations => Interlocked.Read(ref _kernelGenerations);

    /// <summary>Creates an associative convolution with a square kernel.</summary>
    public AssociativeConv2d(ConvolutionalSliceGenerator generator, long inChannels, long outChannels,
        long kernelSize, long stride = 1, long padding = 0, long dilation = 1, long groups = 1,
        bool bias = false, string name = "AssociativeConv2d")
        : this(generator, inChannels, outChannels, (kernelSize, kernelSize), (stride, stride),
            (padding, padding), (dilation, dilation), groups, bias, name)
    {
    }

    /// <summary>Creates an associative convolution.</summary>
    /// <exception cref="ArgumentException">A size is not positive, channels do not divide into groups, or the
    /// kernel is larger than the generator's slice kernel. The message names the layer and the numbers.</exception>
    public AssociativeConv2d(ConvolutionalSliceGenerator generator, long inChannels, long outChannels,
        (long Height, long Width) kernelSize, (long Height, long Width) stride, (long Height, long Width) padding,
        (long Height, long Width) dilation, long groups = 1, bool bias = false, string name = "AssociativeConv2d")
        : base(name)
    {
        _generator = generator ?? throw new ArgumentNullException(nameof(generator));
        var slice = generator.Slice;
        string Fail(string what) => $"associative layer '{name}' ({inChannels}->{outChannels}, kernel " +
            $"{kernelSize.Height}x{kernelSize.Width}): {what}";

        if (inChannels < 1 || outChannels < 1)
            throw new ArgumentException(Fail("channel counts must be at least 1"));
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException(Fail($"{groups} groups must divide both channel counts"));
        if (kernelSize.Height < 1 || kernelSize.Width < 1)
            throw new ArgumentException(Fail("kernel size must be at least 1x1"));
        if (kernelSize.Height > slice.KernelHeight || kernelSize.Width > slice.KernelWidth)
            throw new ArgumentException(Fail(
                $"kernel is larger than the generator's slice kernel {slice.KernelHeight}x{slice.KernelWidth} " +
                    $"(slice {slice}); " +
                "use a slice with a kernel at least this large, or leave this convolution ordinary"));
        if (stride.Height < 1 || stride.Width < 1 || dilation.Height < 1 || dilation.Width < 1)
            throw new ArgumentException(Fail("stride and dilation must be at least 1"));
        if (padding.Height < 0 || padding.Width < 0)
            throw new ArgumentException(Fail("padding must not be negative"));

        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding;
        Dilation = dilation;
        Groups = groups;
        SliceRows = CeilDiv(outChannels, slice.Out);
        SliceColumns = CeilDiv(InChannelsPerGroup, slice.In);

        var codes = torch.empty(NumSlices, generator.CodeSize);
        using (torch.no_grad())
        {
            switch (generator.Options.CodeInit)
            {
                case CodeInit.ReferenceResNet: codes.normal_(0.001, 1.0); break;
                case CodeInit.StandardNormal: codes.normal_(0.0, 1.0); break;
                case CodeInit.FanIn: codes.normal_(0.0,
                    FanInCodeStd(generator, InChannelsPerGroup * kernelSize.Height * kernelSize.Width)); break;
                default: throw new ArgumentOutOfRangeException(nameof(generator), generator.Options.CodeInit,
                    "unknown code initialisation");
            }
        }
        code = new Parameter(codes);
        register_parameter(nameof(code), code);
        if (bias)
        {
            // nn.Conv2d's default bias init: uniform in +-1/sqrt(fan_in)
            double bound = 1.0 / Math.Sqrt(InChannelsPerGroup * kernelSize.Height * kernelSize.Width);
            this.bias = new Parameter(torch.empty(outChannels).uniform_(-bound, bound));
            register_parameter(nameof(bias), this.bias);
        }
    }

    /// <summary>
    /// Hands this layer's code to <paramref name="host"/>, usually the block holding the layer, so that
    /// it is registered there as <paramref name="name"/> (the reference's <c>stage_1.0.code</c> instead
    /// of <c>stage_1.0.conv_a.code</c>) and this layer registers no parameter of its own. The host must
    /// keep the returned parameter in a field named <paramref name="name"/> and register it (its
    /// <c>RegisterComponents()</c> does both), so TorchSharp's <c>to()</c> replaces field and registration together;
    /// the layer always reads the code from the host's registration.
    /// </summary>
    /// <returns>The code parameter, to be stored in the host's field.</returns>
    /// <exception cref="InvalidOperationException">The code is already hosted elsewhere.</exception>
    public Parameter HostCodeIn(nn.Module host, string name)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var own = code ?? throw new InvalidOperationException(
            $"associative layer '{GetName()}': its code is already hosted as '{_codeHost!.Value.Name}' by " +
                $"{_codeHost.Value.Module.GetName()}");
        ConditionallyRegisterParameter(nameof(code), (Parameter?)null);
        code = null;
        _codeHost = (host, name);
        return own;
    }

    private Parameter HostedCode()
    {
        var (host, name) = _codeHost!.Value;
        return host.get_parameter(name) ?? throw new InvalidOperationException(
            $"associative layer '{GetName()}': its host {host.GetName()} has no parameter '{name}' (register it " +
                "before the first forward)");
    }

    /// <summary>
    /// Everything is registered explicitly in the constructor; in particular the shared generator is
    /// not a child of this layer (the model registers it once), and the cached kernel is no buffer.
    /// </summary>
    protected override void RegisterComponents() { }

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;

    /// <summary>
    /// The code standard deviation that makes generated weights (a sum of CodeSize products of a code entry and a
    /// generator entry) have variance 2 / fan-in: Var(w) = CodeSize * E[G^2] * Var(c).
    /// </summary>
    internal static double FanInCodeStd(ConvolutionalSliceGenerator generator, long fanIn)
    {
        double meanSquare;
        using (torch.no_grad())
        using (var square = generator.Weight.square().mean())
            meanSquare = square.ToDouble();
        if (!(meanSquare > 0))
            throw new ArgumentException("a fan-in code initialisation needs a generator with non-zero weights");
        return Math.Sqrt(2.0 / fanIn / (generator.CodeSize * meanSquare));
    }

    /// <summary>
    /// Builds the kernel <c>[OutChannels, InChannelsPerGroup, kh, kw]</c> from the codes, with autograd
    /// (gradients reach codes and generator). The caller owns the returned tensor.
    /// </summary>
    public Tensor GenerateKernel()
    {
        Interlocked.Increment(ref _kernelGenerations);
        using var scope = torch.NewDisposeScope();
        var slice = _generator.Slice;
        // [NumSlices, slice elements]: generated with the other layers' in one multiply when the model asked for that
        var slices = _generator.SlicesGeneratedTogether(this) ?? _generator.call(Code);
        Tensor padded = _generator.Layout switch
        {
            // all slices in order, viewed contiguously as the padded kernel (needs square slices)
            SliceLayout.Reference => slices.view(SliceRows * slice.Out, SliceColumns * slice.In,
                slice.KernelHeight, slice.KernelWidth),
            // slice (r, c) is the block of output channels r*So.. and input channels c*Si..
            SliceLayout.Blocked => slices
                .view(SliceRows, SliceColumns, slice.Out, slice.In, slice.KernelHeight, slice.KernelWidth)
                .permute(0, 2, 1, 3, 4, 5)
                .reshape(SliceRows * slice.Out, SliceColumns * slice.In, slice.KernelHeight, slice.KernelWidth),
            _ => throw new InvalidOperationException($"unknown slice layout {_generator.Layout}"),
        };
        var kernel = padded;
        if (padded.shape[0] != OutChannels) kernel = kernel.narrow(0, 0, OutChannels);
        if (padded.shape[1] != InChannelsPerGroup) kernel = kernel.narrow(1, 0, InChannelsPerGroup);
        if (slice.KernelHeight != KernelSize.Height) kernel = kernel.narrow(2, 0, KernelSize.Height);
        if (slice.KernelWidth != KernelSize.Width) kernel = kernel.narrow(3, 0, KernelSize.Width);
        return kernel.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The inverse of the layout <see cref="GenerateKernel"/> applies: the slices <c>[NumSlices, slice elements]</c>
    /// that would generate <paramref name="kernel"/> (<c>[OutChannels, InChannelsPerGroup, kh, kw]</c>), zero
    /// where the padded kernel is cropped away. The caller owns the result.
    /// </summary>
    public Tensor SlicesOf(Tensor kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var expected = new[] { OutChannels, InChannelsPerGroup, KernelSize.Height, KernelSize.Width };
        if (!kernel.shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"associative layer '{GetName()}': kernel must be [{string.Join(", ", expected)}], got " +
                    $"[{string.Join(", ", kernel.shape)}]");
        using var scope = torch.NewDisposeScope();
        var slice = _generator.Slice;
        var padded = torch.zeros(new[] { SliceRows * slice.Out, SliceColumns * slice.In, (long)slice.KernelHeight,
            slice.KernelWidth }, dtype: kernel.dtype, device: kernel.device);
        padded.narrow(0, 0, OutChannels).narrow(1, 0, InChannelsPerGroup)
            .narrow(2, 0, KernelSize.Height).narrow(3, 0, KernelSize.Width).copy_(kernel);
        var slices = _generator.Layout switch
        {
            SliceLayout.Reference => padded.reshape(NumSlices, slice.Elements),
            SliceLayout.Blocked => padded
                .view(SliceRows, slice.Out, SliceColumns, slice.In, slice.KernelHeight, slice.KernelWidth)
                .permute(0, 2, 1, 3, 4, 5)
                .reshape(NumSlices, slice.Elements),
            _ => throw new InvalidOperationException($"unknown slice layout {_generator.Layout}"),
        };
        return slices.MoveToOuterDisposeScope();
    }

    /// <summary>Convolves <paramref name="input"/> with the generated kernel.</summary>
    public override Tensor forward(Tensor input)
    {
        if (input.ndim != 4 || input.shape[1] != InChannels)
            throw new ArgumentException(
                $"associative layer '{GetName()}' expects [batch, {InChannels}, height, width], got " +
                    $"[{string.Join(", ", input.shape)}]");

        if (CanUseCache())
            return Convolve(input, CachedKernel());

        // Gradients are wanted: an optimiser step may follow, so a cached kernel would go stale.
        DropCache();
        using var kernel = GenerateKernel();
        return Convolve(input, kernel);
    }

    private Tensor Convolve(Tensor input, Tensor kernel) =>
        LayerConvolution.Compute(input, kernel, bias, [Stride.Height, Stride.Width], [Padding.Height, Padding.Width],
            [Dilation.Height, Dilation.Width], Groups, ComputeType, InputGuard);

    private bool CanUseCache()
    {
        if (training) return false;
        if (!torch.is_grad_enabled()) return true;
        return !Code.requires_grad && !_generator.Weight.requires_grad && (bias is null || !bias.requires_grad);
    }

    private Tensor CachedKernel()
    {
        var c = Code;
        if (_cachedKernel is not null && _cachedGeneratorVersion == _generator.Version
            && _cachedKernel.dtype == c.dtype && _cachedKernel.device_type == c.device_type
            && _cachedKernel.device_index == c.device_index)
            return _cachedKernel;

        DropCache();
        using (torch.no_grad())
        {
            using var kernel = GenerateKernel();
            // contiguous copy, detached from any dispose scope: it lives until invalidated
            _cachedKernel = kernel.detach().contiguous().clone().DetachFromDisposeScope();
        }
        _cachedGeneratorVersion = _generator.Version;
        return _cachedKernel;
    }

    private void DropCache()
    {
        _cachedKernel?.Dispose();
        _cachedKernel = null;
    }

    /// <summary>Forgets the cached evaluation kernel; call after changing this layer's codes by hand.</summary>
    public void InvalidateKernel() => DropCache();

    /// <summary>Switches mode and drops the cached kernel (a mode switch is a natural invalidation point).</summary>
    public override void train(bool on = true)
    {
        DropCache();
        base.train(on);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) DropCache();
        base.Dispose(disposing);
    }

    /// <summary>Describes the layer, e.g. <c>AssociativeConv2d(16, 32, kernel=3x3, stride=2x2,
    /// slices=2x2)</c>.</summary>
    public override string ToString() =>
        $"AssociativeConv2d({InChannels}, {OutChannels}, kernel={KernelSize.Height}x{KernelSize.Width}, " +
        $"stride={Stride.Height}x{Stride.Width}, padding={Padding.Height}x{Padding.Width}, groups={Groups}, " +
        $"slices={SliceRows}x{SliceColumns})";
}
