using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>Whole-model control of the evaluation kernel caches of associative layers.</summary>
public static class KernelCache
{
    /// <summary>
    /// Drops every cached kernel in <paramref name="model"/>: call after an optimiser step taken in
    /// evaluation mode, after loading weights, or after changing codes or generator by hand.
    /// </summary>
    public static void InvalidateKernels(this nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var (_, module) in model.named_modules())
        {
            if (module is AssociativeConv2d layer) layer.InvalidateKernel();
            else if (module is ConvolutionalSliceGenerator generator) generator.InvalidateKernels();
        }
        if (model is AssociativeConv2d self) self.InvalidateKernel();
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<nn.Module,
        IReadOnlyList<AssociativeConv2d>> Layers = new();

    /// <summary>
    /// For the forward pass of <paramref name="model"/>, generates all its associative layers' kernels with one
    /// multiply
    /// (<see cref="ConvolutionalSliceGenerator.GenerateTogether"/>); a model's forward starts with
    /// <c>using var together = this.GenerateKernelsTogether(CSG);</c>. Nothing happens for a null generator.
    /// </summary>
    public static IDisposable? GenerateKernelsTogether(this nn.Module model, ConvolutionalSliceGenerator? generator) =>
        generator?.GenerateTogether(Layers.GetValue(model, m => m.modules().OfType<AssociativeConv2d>().ToList()));
}
