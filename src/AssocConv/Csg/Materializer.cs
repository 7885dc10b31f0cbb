using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>Turns associative models into ordinary ones for runtimes that know nothing of generators.</summary>
public static class Materializer
{
    /// <summary>
    /// Replaces, in place, every <see cref="AssociativeConv2d"/> in <paramref name="model"/> by a plain
    /// <c>Conv2d</c> holding its generated kernel, and removes the generators, which nothing uses any more.
    /// The outputs stay the same (to float rounding). Returns how many layers were replaced.
    /// </summary>
    /// <remarks>
    /// The generators are unregistered, not disposed: another model may share one. Fields that hold
    /// associative layers must be typed <c>nn.Module&lt;Tensor, Tensor&gt;</c> and not readonly.
    /// </remarks>
    public static int Materialize(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model is AssociativeConv2d)
            throw new ArgumentException("materialize the model that contains this layer, or call GenerateKernel()");

        var edges = ModuleSurgery.Edges(model).ToList();
        // a layer held in several places becomes one convolution held in the same places
        var replacements = new Dictionary<AssociativeConv2d, Conv2d>(ReferenceEqualityComparer.Instance);
        using (torch.no_grad())
        {
            foreach (var (parent, name, child) in edges)
            {
                if (child is not AssociativeConv2d layer) continue;
                if (!replacements.TryGetValue(layer, out var conv)) replacements[layer] = conv = ToConv2d(layer);
                ModuleSurgery.Replace(parent, name, conv);
            }
        }
        foreach (var layer in replacements.Keys)
        {
            // a code registered by the layer's block goes with the layer
            if (layer.CodeHost is var (host, codeName)) ModuleSurgery.RemoveParameter(host, codeName);
            layer.Dispose();
        }
        foreach (var (parent, name, child) in edges)
            if (child is ConvolutionalSliceGenerator) ModuleSurgery.Remove(parent, name);
        return replacements.Count;
    }

    /// <summary>A plain <c>Conv2d</c> equal to <paramref name="layer"/>, with its current kernel.</summary>
    public static Conv2d ToConv2d(AssociativeConv2d layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var code = layer.Code;
        using var kernel = layer.GenerateKernel();
        var conv = nn.Conv2d(layer.InChannels, layer.OutChannels, layer.KernelSize, layer.Stride, layer.Padding,
            layer.Dilation, groups: layer.Groups, bias: layer.Bias is not null,
            device: code.device, dtype: code.dtype);
        using (torch.no_grad())
        {
            conv.weight!.copy_(kernel);
            if (layer.Bias is { } bias) conv.bias!.copy_(bias);
        }
        conv.weight!.requires_grad = code.requires_grad || layer.Generator.Weight.requires_grad;
        if (!layer.training) conv.eval();
        if (layer.InputGuard is { } guard) GuardedConv2d.Attach(conv, guard);   // a guarded layer stays guarded
        return conv;
    }
}
