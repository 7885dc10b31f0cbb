using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.Tensors;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Models;

/// <summary>Every zoo model computes the same thing whichever memory format its input has.</summary>
public class ChannelsLastTests
{
    /// <summary>
    /// The smallest listed model of every family, plain and associative; and DenseNet-BC-100-12, whose channel counts
    /// are not multiples of 16, like the plain MobileNetV2's and ResNet-18's 1x1 convolutions to 320 and more
    /// channels: where libtorch's oneDNN 3.7 was seen computing wrong results (ConvolutionGuard).
    /// </summary>
    public static TheoryData<string, int, bool> Cases => TestSupport.Theory(TestSupport.SmallestOfEachFamily()
        .SelectMany(e => new[] { (e.Name, TestSupport.TestInputSize(e), true),
            (e.Name, TestSupport.TestInputSize(e), false) })
        .Append(("densenet-bc-100-12", 32, false)));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Outputs_and_gradients_equal_the_contiguous_ones(string name, int size, bool plain)
    {
        torch.manual_seed(11);
        using var model = ModelZoo.Create(name, new ModelOptions { Plain = plain });
        // as the command line and the trainer do: without it this fails where oneDNN errs
        ConvolutionGuard.Protect(model);
        model.train();
        using var x = randn(4, 3, size, size);
        using var cl = x.ToMemoryFormat(MemoryFormat.ChannelsLast);

        // float32, where oneDNN runs: the logits agree to rounding
        var (logits, _) = Run(model, x);
        var (logitsCl, _) = Run(model, cl);
        double scale = logits.abs().max().item<float>();
        Assert.True(MaxAbsDifference(logits, logitsCl) <= 1e-4 * scale,
            $"{name}: logits differ by {MaxAbsDifference(logits, logitsCl)} (scale {scale})");

        // float64: every operation of the network (shortcuts, concatenations, shuffles) computes exactly the
        // same function in either format, gradients included (in float32, batch norm over 4 images amplifies
        // rounding too much for a sharp comparison)
        model.to(float64);
        using var x64 = x.to(float64);
        using var cl64 = x64.ToMemoryFormat(MemoryFormat.ChannelsLast);
        Assert.True(cl64.IsChannelsLast());
        var (logits64, grads) = Run(model, x64);
        var (logits64Cl, gradsCl) = Run(model, cl64);
        Assert.True(MaxAbsDifference(logits64, logits64Cl) <= 1e-10 * logits64.abs().max().item<double>());
        // and float32, in either format, computes what float64 does (to rounding): both formats wrong alike would
        // pass the comparison above
        double scale64 = logits64.abs().max().item<double>();
        foreach (var (format, l) in new[] { ("contiguous", logits), ("channels-last", logitsCl) })
            Assert.True(MaxAbsDifference(l.to(float64), logits64) <= 1e-4 * scale64,
                $"{name}: float32 {format} logits differ from float64 by {MaxAbsDifference(l.to(float64), logits64)} " +
                    $"(scale {scale64})");
        Assert.NotEmpty(grads);
        foreach (var (key, g) in grads)
        {
            double gScale = g.abs().max().item<double>();
            double difference = MaxAbsDifference(g, gradsCl[key]);
            Assert.True(difference <= 1e-9 * gScale + 1e-14,
                $"{name}: gradient of {key} differs by {difference} (scale {gScale})");
        }
    }

    private static (Tensor Logits, Dictionary<string, Tensor> Grads) Run(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        model.zero_grad();
        var logits = model.call(x);
        logits.square().sum().backward();
        var grads = model.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        return (logits.detach(), grads);
    }

    [Fact]
    public void A_channels_last_input_keeps_every_activation_of_a_resnet_channels_last()
    {
        // the option-A shortcut appends zero channels; done with a new contiguous zero tensor and cat, it would
        // turn the rest of the network back to NCHW (slower convolutions). Every 4-d output must stay NHWC.
        using var model = ModelZoo.Create("resnet20");
        var outputs = new List<(string Name, bool ChannelsLast)>();
        var hooks = new List<Action>();
        foreach (var (name, module) in model.named_modules())
            if (module is nn.Module<Tensor, Tensor> m && name.Length > 0)
            {
                var hook = m.register_forward_hook((_, _, output) =>
                {
                    if (output.ndim == 4) outputs.Add((name, output.IsChannelsLast()));
                    return output;
                });
                hooks.Add(hook.remove);
            }
        using var x = randn(2, 3, 32, 32).ToMemoryFormat(MemoryFormat.ChannelsLast);
        using (no_grad()) model.call(x).Dispose();
        foreach (var remove in hooks) remove();
        Assert.Contains(outputs,
            o => o.Name.Contains("downsample",
                StringComparison.Ordinal) || o.Name.Contains("shortcut", StringComparison.Ordinal));
        Assert.True(outputs.Count > 50);
        Assert.All(outputs, o => Assert.True(o.ChannelsLast, $"{o.Name} returned NCHW"));
    }
}
