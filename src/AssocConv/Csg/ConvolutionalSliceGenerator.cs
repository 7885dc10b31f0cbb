using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>
/// The Convolutional Slice Generator (CSG): one per model, shared by all of its associative layers.
/// A bias-free linear map from a code vector of <see cref="CodeSize"/> numbers to one slice of
/// <see cref="Slice"/> filter weights. Its weight has the shape of a bias-free <c>nn.Linear</c>,
/// <c>[slice elements, code size]</c>, so state dicts match the reference's <c>CSG.weight</c>.
/// </summary>
public sealed class ConvolutionalSliceGenerator : nn.Module<Tensor, Tensor>
{
    private long _version;

    // Named exactly as registered: TorchSharp's to() replaces a parameter by finding the field of that
    // name; a property's backing field would be updated while the registered tensor went stale.
    private Parameter weight;

    /// <summary>The slice-to-weight matrix, <c>[Slice.Elements, CodeSize]</c>, registered as <c>weight</c>.</summary>
    public Parameter Weight => weight;

    /// <summary>The options this generator was built from.</summary>
    public GeneratorOptions Options { get; }

    /// <summary>Shape of one generated slice.</summary>
    public SliceShape Slice => Options.Slice;

    /// <summary>Length of one code vector.</summary>
    public int CodeSize => Options.CodeSize;

    /// <summary>How the layers using this generator lay out its slices.</summary>
    public SliceLayout Layout => Options.Layout;

    /// <summary>True when the generator receives no gradient and is not trained.</summary>
    public bool IsFrozen => !Weight.requires_grad;

    /// <summary>
    /// Bumped whenever the weight may have changed outside autograd (<see cref="InvalidateKernels"/>);
    /// layers compare it with the version their cached kernel was built from.
    /// </summary>
    internal long Version => Interlocked.Read(ref _version);

    /// <summary>Creates and initialises a generator.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public ConvolutionalSliceGenerator(GeneratorOptions? options = null, string name = "CSG") : base(name)
    {
        Options = (options ?? GeneratorOptions.Default).Validate();
        var w = torch.empty(Slice.Elements, CodeSize);
        Initialise(w, Options.Init);
        weight = new Parameter(w, requires_grad: !Options.IsFrozen);
        register_parameter(nameof(weight), weight);
    }

    /// <summary>Everything is registered explicitly in the constructor.</summary>
    protected override void RegisterComponents() { }

    private static void Initialise(Tensor w, GeneratorInit init)
    {
        using var _ = torch.no_grad();
        switch (init)
        {
            case GeneratorInit.KaimingNormal:
                nn.init.kaiming_normal_(w);      // fan-in = code size, gain sqrt(2)
                break;
            case GeneratorInit.LinearDefault:
                nn.init.kaiming_uniform_(w, a: Math.Sqrt(5));   // nn.Linear's reset_parameters
                break;
            case GeneratorInit.Binary:
                nn.init.kaiming_normal_(w);
                w.sign_().mul_(0.5);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(init), init, "unknown generator initialisation");
        }
    }

    /// <summary>Generates one slice per row of <paramref name="codes"/>: <c>[n, CodeSize]</c> to <c>[n,
    /// Slice.Elements]</c>.</summary>
    public override Tensor forward(Tensor codes)
    {
        if (codes.ndim != 2 || codes.shape[1] != CodeSize)
            throw new ArgumentException(
                $"{GetName()}: codes must be [n, {CodeSize}], got [{string.Join(", ", codes.shape)}]");
        return nn.functional.linear(codes, weight);
    }

    /// <summary>Stops gradients to the generator, so only codes (and the rest of the model) train.</summary>
    public ConvolutionalSliceGenerator Freeze()
    {
        weight.requires_grad = false;
        return this;
    }

    /// <summary>Lets the generator train again.</summary>
    public ConvolutionalSliceGenerator Unfreeze()
    {
        weight.requires_grad = true;
        return this;
    }

    /// <summary>
    /// Tells every layer sharing this generator that its weight changed outside autograd (after an
    /// optimiser step or a load), so cached evaluation kernels are rebuilt.
    /// </summary>
    public void InvalidateKernels() => Interlocked.Increment(ref _version);

    private Dictionary<AssociativeConv2d, Tensor>? _together;

    /// <summary>
    /// For one forward pass that needs gradients, generates the slices of all <paramref name="layers"/> that use this
    /// generator with one matrix multiply (their codes stacked), instead of one small multiply per layer, so the
    /// backward pass also runs once. Dispose the result when the forward pass ends; the slices belong to the
    /// caller's dispose scope. Does nothing without gradients (evaluation uses cached kernels) or when already active.
    /// </summary>
    public IDisposable GenerateTogether(IReadOnlyList<AssociativeConv2d> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (_together is not null || !torch.is_grad_enabled()) return NoBatch.Instance;
        var own = layers.Where(l => ReferenceEquals(l.Generator, this)).ToList();
        if (own.Count < 2) return NoBatch.Instance;
        var codes = torch.cat(own.Select(l => (Tensor)l.Code).ToArray(), 0);
        var slices = nn.functional.linear(codes, weight);
        var parts = slices.split(own.Select(l => l.NumSlices).ToArray(), 0);
        _together = new Dictionary<AssociativeConv2d, Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < own.Count; i++) _together[own[i]] = parts[i];
        return new Batch(this);
    }

    /// <summary>The slices generated together for <paramref name="layer"/> in the current forward pass, or
    /// null.</summary>
    internal Tensor? SlicesGeneratedTogether(AssociativeConv2d layer) =>
        _together is { } batch && batch.TryGetValue(layer, out var slices) ? slices : null;

    private sealed class Batch(ConvolutionalSliceGenerator generator) : IDisposable
    {
        public void Dispose() => generator._together = null;
    }

    private sealed class NoBatch : IDisposable
    {
        public static readonly NoBatch Instance = new();
        public void Dispose() { }
    }

    /// <summary>Throws unless this generator has the slice shape and code size a model asks for.</summary>
    /// <param name="requested">The model's generator options.</param>
    /// <param name="model">The model's name, for the message.</param>
    public void EnsureCompatible(GeneratorOptions requested, string model)
    {
        if (requested.Slice != Slice || requested.CodeSize != CodeSize || requested.Layout != Layout)
            throw new ArgumentException(
                $"{model}: cannot share a generator with slice {Slice}, code {CodeSize}, {Layout} layout; " +
                $"the model asks for slice {requested.Slice}, code {requested.CodeSize}, {requested.Layout} layout");
    }
}
