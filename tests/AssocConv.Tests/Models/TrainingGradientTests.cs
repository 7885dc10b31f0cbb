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
    /// <summary>The smallest listed model of every family, plain and associative.</summary>
    public static TheoryData<string, int, bool> Cases => TestSupport.Theory(TestSupport.SmallestOfEachFamily()
        .SelectMany(e => new[] { (e.Name, TestSupport.TestInputSize(e), true),
            (e.Name, TestSupport.TestInputSize(e), false) }));

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
        using var weights = randn(3, ModelZoo.Get(name).Classes, dtype: float64);
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
        var spread = new[] { 0, 1, parameters.Count / 4, parameters.Count / 2, 3 * parameters.Count / 4,
            parameters.Count - 2, parameters.Count - 1 };
        int generator = parameters.FindIndex(p => p.name == "CSG.weight");
        int code = parameters.FindIndex(p => p.name.Split('.')[^1].StartsWith("code", StringComparison.Ordinal));
        if (!plain)
        {
            Assert.True(generator >= 0, $"{name}: no generator among the parameters");
            Assert.True(code >= 0, $"{name}: no codes among the parameters");
        }
        var random = new Random(7);
        foreach (int k in spread.Concat(plain ? [] : [generator, code]).Distinct())
        {
            var (parameterName, p) = parameters[k];
            Assert.NotNull(p.grad);
            long i = random.NextInt64(p.numel());
            double analytic = p.grad!.view(-1)[i].item<double>();
            double Shifted(double delta)
            {
                using (no_grad()) p.view(-1)[i].add_(delta);
                return Loss();
            }
            double Numeric(double h)
            {
                double d = (Shifted(h) - Shifted(-2 * h)) / (2 * h);
                Shifted(h);   // restore
                return d;
            }
            bool Agrees(double numeric) => Math.Abs(numeric - analytic) <= 1e-5 * Math.Max(1.0, Math.Abs(analytic));
            // A step that moves one of the network's many ReLUs, pooling maxima or ReLU6 clips across its kink
            // (a first convolution's weight moves them all) changes the difference quotient, not the gradient:
            // a smaller step must then agree. A wrong gradient agrees with neither.
            double coarse = Numeric(1e-6);
            double fine = Agrees(coarse) ? coarse : Numeric(1e-7);
            Assert.True(Agrees(fine),
                $"{name}: d loss / d {parameterName}[{i}] is {analytic} by backward, {coarse} and {fine} by " +
                    "finite differences");
        }
    }
}
