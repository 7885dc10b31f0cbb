using System.CommandLine;
using AssocConv.Csg;
using AssocConv.Models;

namespace AssocConv.Cli;

/// <summary>The model-choosing options of a verb: --model, --plain, --slice, --code-size, --layout.</summary>
internal sealed class ModelArguments
{
    public Option<string> Model { get; } = CommonOptions.Model();
    public Option<bool> Plain { get; } = CommonOptions.Plain();
    public Option<string?> Slice { get; } = CommonOptions.Slice();
    public Option<int?> CodeSize { get; } = CommonOptions.CodeSize();
    public Option<SliceLayout?> Layout { get; } = CommonOptions.Layout();

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(Plain);
        command.Options.Add(Slice);
        command.Options.Add(CodeSize);
        command.Options.Add(Layout);
    }

    public (ModelEntry Entry, ModelOptions Options) Read(ParseResult result) =>
        CommonOptions.ReadModel(result, Model, Plain, Slice, CodeSize, Layout);
}
