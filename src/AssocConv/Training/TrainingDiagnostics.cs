using TorchSharp;
using System.Globalization;
using System.Text;
using AssocConv.Csg;
using AssocConv.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Training;

/// <summary>
/// Measures what decides how fast each part of a model learns, around chosen optimiser steps, into a CSV: per parameter
/// group (<see cref="ParameterGroupKind"/>) the parameters' RMS, the gradient's RMS and the relative step
/// ||after - before|| / ||before||; per convolution (plain or generated) the kernel's RMS, that RMS over He's fan-in
/// scale sqrt(2 / fan-in), and the kernel's relative step. Batch-norm after a convolution makes the loss blind to
/// its kernel's scale, so the kernel's relative step is its effective learning rate.
/// </summary>
public sealed class TrainingDiagnostics
{
    /// <summary>The CSV header.</summary>
    public const string CsvHeader = "step,epoch,kind,name,rms,grad_rms,rms_over_he,relative_step";

    private readonly nn.Module _model;
    private readonly IReadOnlyList<(string Name, Parameter Parameter, ParameterGroupKind Kind)> _parameters;
    private readonly List<(string Name, nn.Module Layer, long FanIn)> _convolutions = [];
    private readonly string _path;
    private readonly int _every;
    private Dictionary<ParameterGroupKind, (Tensor Before, double GradRms)>? _groups;
    private List<Tensor>? _kernels;
    private long _step;
    private int _epoch;

    /// <summary>Appends to <paramref name="path"/> (created with its header when missing) every <paramref
    /// name="every"/> steps.</summary>
    public TrainingDiagnostics(nn.Module model, string path, int every)
    {
        if (every < 1) throw new ArgumentException($"diagnostics interval must be at least 1, got {every}");
        _model = model;
        _path = path;
        _every = every;
        _parameters = ParameterGroups.Classify(model);
        foreach (var (name, module) in model.named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    var w = conv.weight!;
                    _convolutions.Add((name, conv, w.shape[1] * w.shape[2] * w.shape[3]));
                    break;
                case AssociativeConv2d a:
                    _convolutions.Add((name, a, a.InChannelsPerGroup * a.KernelSize.Height * a.KernelSize.Width));
                    break;
                case LowPrecisionConv2d low:
                    var lw = low.Weight;
                    _convolutions.Add((name, low, lw.shape[1] * lw.shape[2] * lw.shape[3]));
                    break;
            }
        }
        if (!File.Exists(path)) File.WriteAllText(path, CsvHeader + "\n");
    }

    /// <summary>Call after the backward pass, before the optimiser's step <paramref name="step"/> (0-based, counted
    /// over the run).</summary>
    public void BeforeStep(long step, int epoch)
    {
        _groups = null;
        _kernels = null;
        if (step % _every != 0) return;
        _step = step;
        _epoch = epoch;
        using var _ = no_grad();
        _groups = [];
        foreach (var kind in _parameters.Select(p => p.Kind).Distinct())
        {
            var members = Trained(kind);
            if (members.Count == 0) continue;
            using var joined = cat(members.Select(p => p.detach().flatten()).ToArray());
            var before = joined.clone();   // cat may hand back its only input, a view of the parameter
            var grads = members.Select(p => p.grad is { } g ? g.detach().flatten() : zeros_like(p).flatten()).ToArray();
            using var all = cat(grads);
            _groups[kind] = (before, Rms(all));
            foreach (var g in grads) g.Dispose();
        }
        _kernels = _convolutions.Select(c => Kernel(c.Layer)).ToList();
    }

    /// <summary>Call after the optimiser's step; writes the rows when <see cref="BeforeStep"/> measured.</summary>
    public void AfterStep()
    {
        if (_groups is null || _kernels is null) return;
        var rows = new StringBuilder();
        string F(double v) => double.IsNaN(v) ? "" : v.ToString("G6", CultureInfo.InvariantCulture);
        using (no_grad())
        {
            foreach (var (kind, (before, gradRms)) in _groups)
            {
                var members = Trained(kind).Select(p => p.detach().flatten()).ToArray();
                using var after = cat(members);
                foreach (var m in members) m.Dispose();
                rows.Append(CultureInfo.InvariantCulture,
                    $"{_step},{_epoch},group,{kind},{F(Rms(before))},{F(gradRms)},," +
                    $"{F(RelativeChange(before, after))}\n");
                before.Dispose();
            }
            for (int i = 0; i < _convolutions.Count; i++)
            {
                var (name, layer, fanIn) = _convolutions[i];
                using var before = _kernels[i];
                using var after = Kernel(layer);
                double rms = Rms(before);
                rows.Append(CultureInfo.InvariantCulture,
                    $"{_step},{_epoch},kernel,{name},{F(rms)},,{F(rms / Math.Sqrt(2.0 / fanIn))}," +
                    $"{F(RelativeChange(before, after))}\n");
            }
        }
        File.AppendAllText(_path, rows.ToString());
        _groups = null;
        _kernels = null;
    }

    /// <summary>The parameters of a group that train (frozen ones get no step to measure).</summary>
    private List<Parameter> Trained(ParameterGroupKind kind) =>
        _parameters.Where(p => p.Kind == kind && p.Parameter.requires_grad).Select(p => p.Parameter).ToList();

    private static Tensor Kernel(nn.Module layer)
    {
        using var _ = no_grad();
        return layer switch
        {
            Conv2d conv => conv.weight!.detach().clone().DetachFromDisposeScope(),
            AssociativeConv2d a => a.GenerateKernel().detach().DetachFromDisposeScope(),
            LowPrecisionConv2d low => low.Weight.detach().clone().DetachFromDisposeScope(),
            _ => throw new InvalidOperationException(),
        };
    }

    private static double Rms(Tensor t)
    {
        using var s = t.square().mean();
        return Math.Sqrt(s.ToDouble());
    }

    /// <summary>||after - before|| / ||before||, or NaN (an empty CSV field) from all-zero parameters such as fresh
    /// biases.</summary>
    private static double RelativeChange(Tensor before, Tensor after)
    {
        using var diff = (after - before).norm();
        using var norm = before.norm();
        double n = norm.ToDouble();
        return n > 0 ? diff.ToDouble() / n : double.NaN;
    }
}
