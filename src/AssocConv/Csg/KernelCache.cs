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
}
