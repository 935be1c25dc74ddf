using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.Replay;

/// <summary>A kernel release as <c>uname -r</c> prints it, reduced to what orders it against the profile table.</summary>
/// <param name="Text">The release as given.</param>
/// <param name="Major">Major version.</param>
/// <param name="Minor">Minor version.</param>
/// <param name="Patch">Stable patch level (0 for a mainline release or release candidate).</param>
/// <param name="Rc">Release-candidate number, or null for a release.</param>
/// <param name="Next">A linux-next build (<c>-next-YYYYMMDD</c>): the next merge window's code on top of <c>Major.Minor</c>.</param>
public sealed partial record KernelRelease(string Text, int Major, int Minor, int Patch, int? Rc, bool Next)
{
    /// <summary>Parses <c>6.14.0-syzkaller-12456-gacc4d5ff0b61</c>, <c>v5.10.47</c>, <c>5.11.0-rc4-next-20210120</c>, <c>4.20.0-next-20190102+</c>.</summary>
    public static KernelRelease? TryParse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        Match m = Pattern().Match(text.Trim());
        if (!m.Success)
        {
            return null;
        }
        int major = int.Parse(m.Groups["major"].Value, CultureInfo.InvariantCulture);
        int minor = int.Parse(m.Groups["minor"].Value, CultureInfo.InvariantCulture);
        int patch = m.Groups["patch"].Success ? int.Parse(m.Groups["patch"].Value, CultureInfo.InvariantCulture) : 0;
        int? rc = m.Groups["rc"].Success ? int.Parse(m.Groups["rc"].Value, CultureInfo.InvariantCulture) : null;
        bool next = text.Contains("-next-", StringComparison.Ordinal);
        return new KernelRelease(text.Trim(), major, minor, patch, rc, next);
    }

    /// <summary>
    /// Whether this kernel's code includes everything of release <paramref name="major"/>.<paramref name="minor"/>.<paramref name="patch"/>
    /// (a release candidate of x.y does not include x.y; a stable x.y.z includes x.y.w for w ≤ z, and no other branch's backports).
    /// </summary>
    public bool Includes(int major, int minor, int patch)
    {
        if (patch > 0)
        {
            // A stable backport: only the same stable branch at or after that point has it.
            return Major == major && Minor == minor && Rc is null && Patch >= patch;
        }
        int c = Compare(Major, Minor, major, minor);
        // linux-next of x.y-rcN carries the x.(y) merge window and more; treat it like the release it leads to only
        // after x.y itself: an rc (next or not) of x.y does not include x.y.
        return c > 0 || (c == 0 && Rc is null);
    }

    private static int Compare(int a1, int b1, int a2, int b2) => a1 != a2 ? a1.CompareTo(a2) : b1.CompareTo(b2);

    [GeneratedRegex(@"^v?(?<major>\d+)\.(?<minor>\d+)(?:\.(?<patch>\d+))?(?:-rc(?<rc>\d+))?")]
    private static partial Regex Pattern();
}

/// <summary>The profile picked for a kernel release, and why.</summary>
/// <param name="Profile">The profile.</param>
/// <param name="Release">The release it was picked for (null when none was known).</param>
/// <param name="Exact">Whether the profile is that release's own.</param>
/// <param name="Explanation">One sentence for the user: which profile and why.</param>
public sealed record ProfileChoice(KernelProfile Profile, string? Release, bool Exact, string Explanation);

/// <summary>
/// <c>--profile auto</c> and version-like <c>--profile</c> values: the profile of a kernel release, or the nearest lower
/// one when the table has no exact entry. Stable-point profiles (<c>v5.10.47</c>, <c>v5.13.3</c>) only stand for their
/// own stable branch; a release candidate of x.y is below x.y.
/// </summary>
public static class ProfileSelector
{
    /// <summary>The value of <c>--profile</c> that asks for the release's profile.</summary>
    public const string Auto = "auto";

    /// <summary>
    /// Resolves a <c>--profile</c> value: <c>auto</c> (from <paramref name="release"/>), a profile name, or a release
    /// (<c>v6.14</c>, <c>6.14.0-rc1</c>) mapped to its nearest lower profile.
    /// </summary>
    /// <exception cref="ArgumentException"><c>auto</c> without a release, or a value that is neither a profile nor a release.</exception>
    public static ProfileChoice Resolve(string value, string? release)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value == Auto)
        {
            return ForRelease(release) ?? throw new ArgumentException(
                "--profile auto needs a kernel release, and the trace does not say which kernel it came from (meta.json kernel_release is null); name a profile: "
                + string.Join(", ", KernelProfile.Names) + ".");
        }
        if (KernelProfile.Names.Contains(value, StringComparer.Ordinal))
        {
            return new ProfileChoice(KernelProfile.Parse(value), null, true, $"profile {value}");
        }
        return ForRelease(value) ?? throw new ArgumentException(
            $"Unknown kernel profile '{value}'; expected auto, a kernel release (e.g. v6.14) or one of: {string.Join(", ", KernelProfile.Names)}.");
    }

    /// <summary>The profile for <paramref name="release"/>: its own, else the nearest lower one; null when it is not a release.</summary>
    public static ProfileChoice? ForRelease(string? release)
    {
        KernelRelease? r = KernelRelease.TryParse(release);
        if (r is null)
        {
            return null;
        }
        string? best = null;
        foreach (string name in KernelProfile.Names)
        {
            if (name is "none" or "latest")
            {
                continue;
            }
            KernelRelease p = KernelRelease.TryParse(name)!;
            if (r.Includes(p.Major, p.Minor, p.Patch))
            {
                // Names are in version order, so the last one included is the nearest lower.
                best = name;
            }
        }
        if (best is null)
        {
            string oldest = KernelProfile.Names[1];
            return new ProfileChoice(KernelProfile.Parse(oldest), r.Text, false,
                $"kernel {r.Text} is older than every profile; picked the oldest, {oldest}");
        }
        KernelRelease picked = KernelRelease.TryParse(best)!;
        bool exact = picked.Major == r.Major && picked.Minor == r.Minor && picked.Patch == r.Patch && r.Rc is null && !r.Next;
        string why = exact
            ? $"kernel {r.Text} -> profile {best}"
            : $"kernel {r.Text} has no profile of its own; picked the nearest lower, {best}"
              + (r.Rc is not null || r.Next ? $" (a {(r.Next ? "linux-next" : "release candidate")} of {r.Major}.{r.Minor} is counted before {r.Major}.{r.Minor})" : "");
        return new ProfileChoice(KernelProfile.Parse(best), r.Text, exact, why);
    }
}
