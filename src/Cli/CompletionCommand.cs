using System.CommandLine;
using System.CommandLine.Completions;
using System.Text;

namespace Pipeline.Cli;

/// <summary>
/// <c>mmtrace completion bash|zsh|fish</c>: a completion script generated from the command tree itself, so it
/// names exactly the commands and options this build has (and the fixed values of options such as --format).
/// </summary>
internal static class CompletionCommand
{
    public static Command Create(RootCommand root)
    {
        var shell = new Argument<string>("SHELL") { Description = "bash, zsh or fish." };
        shell.AcceptOnlyFromAmong("bash", "zsh", "fish");
        var command = new Command("completion", "Print a shell completion script: eval \"$(mmtrace completion bash)\" (zsh likewise; fish: mmtrace completion fish | source).")
        {
            shell,
        };
        command.SetAction(parse =>
        {
            var commands = root.Subcommands.Where(c => !c.Hidden).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
            Console.Out.Write(parse.GetValue(shell) switch
            {
                "fish" => Fish(commands),
                "zsh" => "autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n" + Bash(commands),
                _ => Bash(commands),
            });
            return ExitCodes.Success;
        });
        return command;
    }

    private static IEnumerable<Option> Options(Command command) => command.Options.Where(o => !o.Hidden);

    private static IEnumerable<string> Names(Option option) => new[] { option.Name }.Concat(option.Aliases).Distinct(StringComparer.Ordinal);

    /// <summary>The values an option accepts when they are a fixed list (flags take none).</summary>
    private static string[] Values(Option option) => option.ValueType == typeof(bool)
        ? []
        : option.GetCompletions(CompletionContext.Empty).Select(c => c.Label).Where(l => l.Length > 0).ToArray();

    private static string Bash(List<Command> commands)
    {
        var s = new StringBuilder();
        s.Append("# mmtrace completion (bash): eval \"$(mmtrace completion bash)\"\n");
        s.Append("_mmtrace() {\n");
        s.Append("    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" opts=\"\"\n");
        s.Append("    if [[ $COMP_CWORD -eq 1 ]]; then\n");
        s.Append("        COMPREPLY=($(compgen -W \"").AppendJoin(' ', commands.Select(c => c.Name)).Append(" --help --version\" -- \"$cur\"))\n");
        s.Append("        return\n    fi\n");
        s.Append("    case \"${COMP_WORDS[1]}\" in\n");
        foreach (var command in commands)
        {
            var options = Options(command).ToList();
            s.Append("        ").Append(command.Name).Append(")\n");
            foreach (var option in options.Where(o => Values(o).Length > 0))
            {
                s.Append("            if [[ \"$prev\" == ").AppendJoin(" || \"$prev\" == ", Names(option)).Append(" ]]; then COMPREPLY=($(compgen -W \"")
                    .AppendJoin(' ', Values(option)).Append("\" -- \"$cur\")); return; fi\n");
            }
            s.Append("            opts=\"").AppendJoin(' ', options.SelectMany(Names).Append("--help")).Append("\" ;;\n");
        }
        s.Append("    esac\n");
        s.Append("    if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")); else COMPREPLY=($(compgen -f -- \"$cur\")); fi\n");
        s.Append("}\n");
        s.Append("complete -o filenames -o bashdefault -F _mmtrace mmtrace\n");
        return s.ToString();
    }

    private static string Fish(List<Command> commands)
    {
        var s = new StringBuilder();
        s.Append("# mmtrace completion (fish): mmtrace completion fish | source\n");
        s.Append("complete -c mmtrace -f\n");
        foreach (var command in commands)
        {
            s.Append("complete -c mmtrace -n __fish_use_subcommand -a ").Append(command.Name).Append(" -d ").Append(Quote(command.Description)).Append('\n');
        }
        foreach (var command in commands)
        {
            foreach (var option in Options(command))
            {
                s.Append("complete -c mmtrace -n '__fish_seen_subcommand_from ").Append(command.Name).Append('\'');
                foreach (var name in Names(option))
                {
                    s.Append(name.StartsWith("--", StringComparison.Ordinal) ? " -l " + name[2..] : " -s " + name[1..]);
                }
                var values = Values(option);
                s.Append(values.Length > 0 ? " -x -a " + Quote(string.Join(' ', values)) : option.ValueType == typeof(bool) ? "" : " -r -F");
                s.Append(" -d ").Append(Quote(option.Description)).Append('\n');
            }
            if (command.Arguments.Count > 0)
            {
                s.Append("complete -c mmtrace -n '__fish_seen_subcommand_from ").Append(command.Name).Append("' -F\n");
            }
        }
        return s.ToString();
    }

    private static string Quote(string? text)
    {
        var line = (text ?? "").Split('\n')[0];
        if (line.Length > 100)
        {
            line = line[..97] + "...";
        }
        return "'" + line.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
    }
}
