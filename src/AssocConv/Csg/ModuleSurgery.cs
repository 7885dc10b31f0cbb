using System.Reflection;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>
/// Replaces or removes a child module in any TorchSharp model. TorchSharp keeps a child both in the
/// parent's registry and in the field (or container list) its forward reads, so both are updated.
/// </summary>
internal static class ModuleSurgery
{
    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    /// <summary>Every (parent, child name, child) in the tree below <paramref name="root"/>, parents first.</summary>
    public static IEnumerable<(nn.Module Parent, string Name, nn.Module Child)> Edges(nn.Module root)
    {
        var stack = new Stack<nn.Module>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var parent = stack.Pop();
            foreach (var (name, child) in parent.named_children().ToList())
            {
                yield return (parent, name, child);
                stack.Push(child);
            }
        }
    }

    /// <summary>Puts <paramref name="replacement"/> where <paramref name="parent"/> holds its child <paramref
    /// name="name"/>.</summary>
    public static void Replace(nn.Module parent, string name, nn.Module replacement)
    {
        var old = parent.named_children().FirstOrDefault(c => c.name == name).module
            ?? throw new ArgumentException($"{parent.GetName()} has no child module '{name}'");
        var registry = Registry(parent);
        if (registry.ContainsKey(name)) registry[name] = replacement;
        ReplaceInContainers(parent, old, replacement);
        ReplaceInFields(parent, old, replacement);
    }

    /// <summary>Removes the child <paramref name="name"/> from <paramref name="parent"/> and clears fields holding
    /// it.</summary>
    public static void Remove(nn.Module parent, string name)
    {
        var registry = Registry(parent);
        if (!registry.TryGetValue(name, out var old))
            throw new ArgumentException($"{parent.GetName()} has no child module '{name}'");
        registry.Remove(name);
        ReplaceInFields(parent, old, null);
    }

    /// <summary>
    /// Unregisters the parameter <paramref name="name"/> of <paramref name="owner"/> and clears the
    /// field holding it (a hosted code the materialized model no longer uses).
    /// </summary>
    public static void RemoveParameter(nn.Module owner, string name)
    {
        var field = typeof(nn.Module).GetField("_internal_params", InstanceFields)
            ?? throw new InvalidOperationException("this TorchSharp version keeps parameters differently; module " +
                "surgery needs updating");
        var registry = (TorchSharp.Utils.OrderedDict<string, Parameter>)field.GetValue(owner)!;
        if (!registry.TryGetValue(name, out var old))
            throw new ArgumentException($"{owner.GetName()} has no parameter '{name}'");
        registry.Remove(name);
        ReplaceInFields(owner, old, null);
    }

    private static TorchSharp.Utils.OrderedDict<string, nn.Module> Registry(nn.Module parent)
    {
        var field = typeof(nn.Module).GetField("_internal_submodules", InstanceFields)
            ?? throw new InvalidOperationException("this TorchSharp version keeps child modules differently; module " +
                "surgery needs updating");
        return (TorchSharp.Utils.OrderedDict<string, nn.Module>)field.GetValue(parent)!;
    }

    private static void ReplaceInContainers(nn.Module parent, nn.Module old, nn.Module replacement)
    {
        // Sequential and ModuleList run their children from a private list
        if (parent is not Sequential && !(parent.GetType().IsGenericType
                && parent.GetType().GetGenericTypeDefinition() == typeof(ModuleList<>)))
            return;
        foreach (var field in parent.GetType().GetFields(InstanceFields))
        {
            if (field.GetValue(parent) is not System.Collections.IList list) continue;
            for (int i = 0; i < list.Count; i++)
            {
                if (!ReferenceEquals(list[i], old)) continue;
                var elementType = list.GetType().IsGenericType ? list.GetType().GetGenericArguments()[0]
                    : typeof(object);
                if (!elementType.IsInstanceOfType(replacement))
                    throw new InvalidOperationException(
                        $"{parent.GetName()} holds {elementType.Name} items; cannot put a " +
                            $"{replacement.GetType().Name} there");
                list[i] = replacement;
            }
        }
    }

    private static void ReplaceInFields(nn.Module parent, object old, object? replacement)
    {
        for (var type = parent.GetType(); type is not null && type != typeof(nn.Module); type = type.BaseType)
        {
            foreach (var field in type.GetFields(InstanceFields | BindingFlags.DeclaredOnly))
            {
                if (!ReferenceEquals(field.GetValue(parent), old)) continue;
                if (replacement is not null && !field.FieldType.IsInstanceOfType(replacement))
                    throw new InvalidOperationException(
                        $"{type.Name}.{field.Name} is declared as {field.FieldType.Name}, so it cannot hold a " +
                        $"{replacement.GetType().Name}; declare it as nn.Module<Tensor, Tensor>");
                if (field.IsInitOnly)
                    throw new InvalidOperationException(
                        $"{type.Name}.{field.Name} is readonly, so what it holds cannot be replaced; make it writable");
                field.SetValue(parent, replacement);
            }
        }
    }
}
