using System.Reflection;
using System.Reflection.Emit;
using AssocConv.Csg;

namespace AssocConv.Tests;

/// <summary>
/// The library's parts depend on each other one way only (docs/layout.md). Read from the compiled assembly: every
/// type a part names in a signature, a field, a local or an instruction of a method body, so a fully qualified name
/// counts as much as a <c>using</c>.
/// </summary>
public class DependencyTests
{
    /// <summary>What each part of the library may use besides itself and the neutral helpers.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Csg"] = [],
        ["Models"] = ["Csg"],
        ["Data"] = [],
        ["Interop"] = ["Csg", "Models", "Data"],
        // the convolution check reaches into both kinds of layer it guards
        ["Native"] = ["Csg", "Models"],
        ["Training"] = ["Csg", "Models", "Data", "Interop", "Native", "Distributed"],
        // deployment: writes models as ONNX graphs with the normalisation their input needs, and runs them on ONNX
        // Runtime
        ["Onnx"] = ["Csg", "Models", "Data"],
        // data-parallel training's exchange over Open MPI knows only tensors and modules
        ["Distributed"] = [],
    };

    /// <summary>Helpers every part may use: files, tensor layouts.</summary>
    private static readonly string[] Neutral = ["IO", "Tensors"];

    private static readonly Assembly Library = typeof(AssociativeConv2d).Assembly;

    [Fact]
    public void Every_dependency_between_the_parts_of_the_library_is_an_allowed_one()
    {
        var parts = Library.GetTypes().Select(t => Part(t)).OfType<string>().Distinct().ToList();
        Assert.All(parts, p => Assert.True(Allowed.ContainsKey(p) || Neutral.Contains(p), $"part {p} has no rule"));
        var wrong =
            Edges().Where(e => !Neutral.Contains(e.To)
            && !(Allowed.TryGetValue(e.From, out var to) && to.Contains(e.To)))
            .Select(e => $"{e.From} -> {e.To}: {e.Where}").Distinct().Order().ToList();
        Assert.True(wrong.Count == 0, "dependencies against the rule:\n" + string.Join("\n", wrong));
    }

    [Fact]
    public void The_reader_sees_dependencies_in_signatures_and_in_method_bodies()
    {
        var edges = Edges().ToList();
        // a field type: the CIFAR ResNet holds its associative layers
        Assert.Contains(edges, e => e.From == "Models" && e.To == "Csg");
        // only inside a method body: the trainer calls the convolution check, and a neutral helper is seen too
        Assert.Contains(edges, e => e.From == "Training" && e.To == "Native" && e.Where.Contains("Trainer"));
        Assert.Contains(edges, e => e.From == "Data" && e.To == "Tensors");
    }

    /// <summary>The part a type belongs to: the namespace below <c>AssocConv</c>, or null outside the
    /// library.</summary>
    private static string? Part(Type t)
    {
        if (t.Assembly != Library || t.Namespace is not { } ns || !ns.StartsWith("AssocConv.",
            StringComparison.Ordinal))
            return null;
        return ns["AssocConv.".Length..].Split('.')[0];
    }

    private static IEnumerable<(string From, string To, string Where)> Edges()
    {
        foreach (var type in Library.GetTypes())
        {
            if (Part(type) is not { } from) continue;
            foreach (var (used, where) in Uses(type))
                foreach (var t in Flatten(used))
                    if (Part(t) is { } to && to != from)
                        yield return (from, to, $"{type.FullName}{where} uses {t.FullName}");
        }
    }

    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance |
                                          BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every type <paramref name="type"/> names, with where.</summary>
    private static IEnumerable<(Type Used, string Where)> Uses(Type type)
    {
        if (type.BaseType is { } b) yield return (b, " (base type)");
        foreach (var i in type.GetInterfaces()) yield return (i, " (interface)");
        foreach (var f in type.GetFields(Declared)) yield return (f.FieldType, $".{f.Name}");
        foreach (var p in type.GetProperties(Declared)) yield return (p.PropertyType, $".{p.Name}");
        foreach (var e in type.GetEvents(Declared)) if (e.EventHandlerType is { } h) yield return (h, $".{e.Name}");
        var methods = type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared));
        foreach (var m in methods)
        {
            string where = $".{m.Name}";
            if (m is MethodInfo mi) yield return (mi.ReturnType, where);
            foreach (var p in m.GetParameters()) yield return (p.ParameterType, where);
            if (m.GetMethodBody() is not { } body) continue;
            foreach (var local in body.LocalVariables) yield return (local.LocalType, where);
            foreach (var used in BodyTypes(m, body.GetILAsByteArray() ?? [])) yield return (used, where);
        }
    }

    /// <summary>The types named by the tokens of a method's instructions (calls, fields, casts, allocations).</summary>
    private static IEnumerable<Type> BodyTypes(MethodBase method, byte[] il)
    {
        var typeArguments = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        foreach (int token in MemberTokens(il))
        {
            var member = method.Module.ResolveMember(token, typeArguments, methodArguments);
            switch (member)
            {
                case Type t:
                    yield return t;
                    break;
                case MethodBase m:
                    if (m.DeclaringType is { } owner) yield return owner;
                    if (m.IsGenericMethod) foreach (var a in m.GetGenericArguments()) yield return a;
                    break;
                case FieldInfo f:
                    if (f.DeclaringType is { } fieldOwner) yield return fieldOwner;
                    yield return f.FieldType;
                    break;
            }
        }
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!)
        .GroupBy(o => o.Value).ToDictionary(g => g.Key, g => g.First());

    /// <summary>The metadata tokens of the instructions that name a type, method or field.</summary>
    private static IEnumerable<int> MemberTokens(byte[] il)
    {
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? unchecked((short)(0xFE00 | il[i + 1])) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType
                    or OperandType.InlineTok:
                    yield return BitConverter.ToInt32(il, i);
                    i += 4;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + 4 * BitConverter.ToInt32(il, i);
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineNone:
                    break;
                default:   // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
                    i += 4;
                    break;
            }
        }
    }

    /// <summary>A type and the types it is made of: array elements, generic arguments, the type a nested one is
    /// in.</summary>
    private static IEnumerable<Type> Flatten(Type t)
    {
        if (t.HasElementType) { foreach (var e in Flatten(t.GetElementType()!)) yield return e; yield break; }
        if (t.IsGenericParameter) yield break;
        yield return t;
        if (t.IsGenericType && !t.IsGenericTypeDefinition)
            foreach (var a in t.GetGenericArguments())
                foreach (var x in Flatten(a)) yield return x;
        if (t.DeclaringType is { } outer) yield return outer;
    }
}
