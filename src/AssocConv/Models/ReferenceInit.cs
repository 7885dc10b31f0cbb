using AssocConv.Csg;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// The weight initialisations of the reference models, where they differ from PyTorch's defaults
/// (which TorchSharp's layers already use). Generators and codes are initialised by their own options.
/// </summary>
internal static class ReferenceInit
{
    /// <summary>
    /// The reference CIFAR ResNet: convolutions normal(0, sqrt(2 / (k*k*out))), batch-norm 1 and 0,
    /// linear layers Kaiming-normal with zero bias.
    /// </summary>
    public static void CifarResNet(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var module in Modules(model))
        {
            switch (module)
            {
                case Conv2d conv:
                    var w = conv.weight!;
                    conv.weight!.normal_(0, Math.Sqrt(2.0 / (w.shape[2] * w.shape[3] * w.shape[0])));
                    break;
                case BatchNorm2d bn:
                    bn.weight!.fill_(1);
                    bn.bias!.zero_();
                    break;
                case Linear linear:
                    nn.init.kaiming_normal_(linear.weight!);
                    linear.bias?.zero_();
                    break;
            }
        }
    }

    /// <summary>torchvision's ImageNet ResNet: convolutions Kaiming-normal (fan-out, ReLU), batch-norm 1 and
    /// 0.</summary>
    public static void ImageNetResNet(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var module in Modules(model))
        {
            switch (module)
            {
                case Conv2d conv:
                    nn.init.kaiming_normal_(conv.weight!, mode: nn.init.FanInOut.FanOut,
                        nonlinearity: nn.init.NonlinearityType.ReLU);
                    break;
                case BatchNorm2d bn:
                    bn.weight!.fill_(1);
                    bn.bias!.zero_();
                    break;
            }
        }
    }

    private static IEnumerable<nn.Module> Modules(nn.Module model) =>
        model.named_modules().Select(m => m.module).Where(m => m is not ConvolutionalSliceGenerator);
}
