using AssocConv.Csg;
using TorchSharp.Modules;
using static TorchSharp.torch;
using HookRemover = TorchSharp.torch.nn.HookableModule<
    System.Func<TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>, TorchSharp.torch.Tensor,
        TorchSharp.torch.Tensor>,
    System.Func<TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>, TorchSharp.torch.Tensor,
        TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>>.HookRemover;

namespace AssocConv.Benchmarking;

/// <summary>Forward multiply-adds of a model's convolutions and linear layers, counted by running one image through
/// it.</summary>
public static class FlopCounter
{
    /// <summary>Forward FLOPs per image (a multiply-add counts 2; convolutions and linear layers only).</summary>
    public static double ForwardFlopsPerImage(nn.Module<Tensor, Tensor> model, long channels, long height, long width)
    {
        double flops = 0;
        var hooks = new List<HookRemover>();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not nn.Module<Tensor, Tensor> m) continue;
            switch (m)
            {
                case Conv2d conv:
                    hooks.Add(m.register_forward_hook((_, _, output) =>
                    {
                        flops += 2.0 * conv.in_channels / conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
                            * output.shape[1] * output.shape[2] * output.shape[3];
                        return output;
                    }));
                    break;
                case AssociativeConv2d layer:
                    hooks.Add(m.register_forward_hook((_, _, output) =>
                    {
                        flops += 2.0 * layer.InChannelsPerGroup * layer.KernelSize.Height * layer.KernelSize.Width
                            * output.shape[1] * output.shape[2] * output.shape[3];
                        return output;
                    }));
                    break;
                case Linear linear:
                    hooks.Add(m.register_forward_hook((_, _, output) =>
                    {
                        flops += 2.0 * linear.in_features * linear.out_features;
                        return output;
                    }));
                    break;
            }
        }
        bool wasTraining = model.training;
        model.eval();
        using (no_grad())
        using (var x = zeros(1, channels, height, width))
        using (model.call(x)) { }
        if (wasTraining) model.train();
        foreach (var hook in hooks) hook.remove();
        return flops;
    }
}
