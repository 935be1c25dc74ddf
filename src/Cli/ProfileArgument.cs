using System.CommandLine;
using Pipeline.Replay;

namespace Pipeline.Cli;

/// <summary>
/// The <c>--profile</c> option every command shares: a profile name, <c>auto</c> (the profile of the trace's or the
/// report's kernel release), or a release such as <c>v6.14</c> (its nearest lower profile). Commands call
/// <see cref="Resolve"/> once per trace with that trace's release (meta.json <c>kernel_release</c>) and print the
/// choice's explanation, so the user always sees which profile was picked and why.
/// </summary>
internal static class ProfileArgument
{
    /// <summary>Creates <c>--profile</c> with <paramref name="defaultValue"/>.</summary>
    public static Option<string> CreateOption(string defaultValue) => new("--profile")
    {
        Description = $"Kernel profile: auto (from the kernel release the trace or report prints), a release (v6.14: its nearest lower profile), or one of {string.Join(", ", KernelProfile.Names)}.",
        DefaultValueFactory = _ => defaultValue,
    };

    /// <summary>
    /// The profile for <paramref name="value"/> given the trace's kernel <paramref name="release"/>, with the
    /// <c>--fix</c> adjustments applied.
    /// </summary>
    /// <exception cref="ArgumentException"><c>auto</c> without a release, or an unknown profile or fix.</exception>
    public static ProfileChoice Resolve(string value, IReadOnlyList<string> fixes, string? release)
    {
        ProfileChoice choice = ProfileSelector.Resolve(value, release);
        if (fixes.Count == 0)
        {
            return choice;
        }
        KernelProfile adjusted = KernelProfile.Parse(choice.Profile.Name, fixes);
        return choice with { Profile = adjusted, Explanation = choice.Explanation + $", with {string.Join(" ", fixes)}" };
    }
}
