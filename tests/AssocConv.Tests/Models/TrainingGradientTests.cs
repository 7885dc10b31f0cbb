using AssocConv.Models;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Models;

/// <summary>
/// The zoo models write their ReLUs and residual additions over batch-norm outputs in place (faster). That is only
/// right while nothing autograd needs, and nothing the caller owns, is overwritten: in training mode every family's
/// gradients must agree with central finite differences, and the input batch must come back untouched.
/// </summary>
public class TrainingGradientTests
{
    public static TheoryData<string, int, bool> Cases => new()
    {
        { "small-cnn", 16, true }, { "resnet20", 16, true }, { "resnet20", 16, false }, { "densenet-bc-40-12", 16, false },
        { "mobilenetv2", 16, false }, { "shufflenetv2", 32, false }, { "imagenet-resnet18", 32, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradients_in_training_mode_agree_with_finite_differences(string name, int size, bool plain)
    {
        torch.manual_seed(3);
        using var model = ModelZoo.Create(name, new ModelOptions { Plain = plain });
        model.to(float64);
        model.train();
        using var x = randn(3, 3, size, size, dtype: float64);
        using var original = x.clone();
        using var weights = randn(3, name.StartsWith("imagenet", StringComparison.Ordinal) ? 1000 : 10, dtype: float64);
        double Loss()
        {
            using var scope = NewDisposeScope();
            return model.call(x).mul(weights).sum().item<double>();
        }

        model.zero_grad();
        using (var scope = NewDisposeScope()) model.call(x).mul(weights).sum().backward();
        Assert.True(MaxAbsDifference(x, original) == 0, $"{name}: the forward pass changed its input");

        // entries of parameters spread over the network: first convolution to classifier, codes and generator included
        var parameters = model.named_parameters().ToList();
        var random = new Random(7);
        int checkedEntries = 0;
        foreach (int k in new[] { 0, 1, parameters.Count / 4, parameters.Count / 2, 3 * parameters.Count / 4, parameters.Count - 2, parameters.Count - 1 }.Distinct())
        {
            var (parameterName, p) = parameters[k];
            Assert.NotNull(p.grad);
            long i = random.NextInt64(p.numel());
            double analytic = p.grad!.view(-1)[i].item<double>();
            const double h = 1e-6;
            double Shifted(double delta)
            {
                using (no_grad()) p.view(-1)[i].add_(delta);
                return Loss();
            }
            double numeric = (Shifted(h) - Shifted(-2 * h)) / (2 * h);
            Shifted(h);   // restore
            Assert.True(Math.Abs(numeric - analytic) <= 1e-5 * Math.Max(1.0, Math.Abs(analytic)),
                $"{name}: d loss / d {parameterName}[{i}] is {analytic} by backward, {numeric} by finite differences");
            checkedEntries++;
        }
        Assert.True(checkedEntries >= 4);
    }
}
