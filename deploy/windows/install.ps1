<#
.SYNOPSIS
  Installs (or updates) the Onshi Fleet agent on an オン資PC: copies the
  binary, writes the config, enrols the PC once, registers the start-up task
  (SYSTEM, restart on failure) and checks the probes. Safe to run again.

.EXAMPLE
  # From a deployment share, as Administrator (e.g. via PsExec or an RMM tool):
  powershell -ExecutionPolicy Bypass -File \\deploy\onshi\install.ps1 `
    -Server https://onshi.example.jp:50051 -SiteId clinic-0001 `
    -Token 3f9a... -CaFingerprint 5b1c... -Maker panasonic

.EXAMPLE
  # New release: replace the binary, keep config, identity and spool; restart.
  powershell -ExecutionPolicy Bypass -File install.ps1 -Upgrade [-SourceExe \\deploy\onshi\onshi-agent.exe]

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1 -Uninstall [-Purge]

.NOTES
  Silent (no prompts) and safe to run again; every run appends to -LogFile
  (default %ProgramData%\OnshiAgent-install.log). Exit 0 = done, 1 = failed
  (the log says why). Mass roll-out: deploy/README.md.
#>
[CmdletBinding(DefaultParameterSetName = 'Install')]
param(
    [Parameter(ParameterSetName = 'Install', Mandatory = $true)][string]$Server,
    [Parameter(ParameterSetName = 'Install', Mandatory = $true)][ValidatePattern('^[A-Za-z0-9._-]{1,64}$')][string]$SiteId,
    # One-time enrolment token and CA fingerprint from `onshi-server site token`;
    # not needed when the PC is already enrolled.
    [Parameter(ParameterSetName = 'Install')][string]$Token,
    [Parameter(ParameterSetName = 'Install')][string]$CaFingerprint,
    [Parameter(ParameterSetName = 'Install')][ValidateSet('', 'fujitsu', 'panasonic', 'atlus', 'almex', 'canon', 'none')][string]$Maker = '',
    [Parameter(ParameterSetName = 'Install')][switch]$HomeVisitNursing,
    # Where onshi-agent.exe comes from (default: next to this script).
    [Parameter(ParameterSetName = 'Install')][string]$SourceExe = (Join-Path $PSScriptRoot 'onshi-agent.exe'),
    # Overwrite an existing agent.toml (default: keep it, so local edits survive updates).
    [Parameter(ParameterSetName = 'Install')][switch]$ForceConfig,
    [Parameter(ParameterSetName = 'Upgrade', Mandatory = $true)][switch]$Upgrade,
    [Parameter(ParameterSetName = 'Upgrade')][string]$UpgradeExe = (Join-Path $PSScriptRoot 'onshi-agent.exe'),
    [Parameter(ParameterSetName = 'Uninstall', Mandatory = $true)][switch]$Uninstall,
    # With -Uninstall: also delete the state (identity, spool, baseline) and logs.
    [Parameter(ParameterSetName = 'Uninstall')][switch]$Purge,
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'OnshiAgent'),
    [string]$DataDir = (Join-Path $env:ProgramData 'OnshiAgent'),
    # Where this script logs what it did (outside the data folder on -Purge).
    [string]$LogFile = (Join-Path $env:ProgramData 'OnshiAgent-install.log')
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$ConfirmPreference = 'None'
# Everything below goes to the log too; the token is never printed.
Start-Transcript -Path $LogFile -Append | Out-Null
trap { Write-Host "FAILED: $_"; Stop-Transcript | Out-Null; exit 1 }
$exe = Join-Path $InstallDir 'onshi-agent.exe'
$config = Join-Path $DataDir 'agent.toml'
$state = Join-Path $DataDir 'state'

function Fail([string]$message) { Write-Host "FAILED: $message"; Stop-Transcript | Out-Null; exit 1 }
function Done([string]$message) { Write-Host $message; Stop-Transcript | Out-Null; exit 0 }
# schtasks.exe writes to stderr when the task does not exist; Windows
# PowerShell 5.1 turns redirected native stderr into a terminating error under
# ErrorActionPreference=Stop, so these calls run with Continue (scoped here).
function Invoke-Quiet {
    $ErrorActionPreference = 'Continue'
    & $args[0] $args[1..($args.Count - 1)] 2>&1 | Out-Null
}
function Invoke-Agent {
    & $exe @args
    if ($LASTEXITCODE -ne 0) { Fail "onshi-agent $($args -join ' ') failed (exit $LASTEXITCODE)" }
}

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Fail 'Run this script as Administrator.'
}

if ($Uninstall) {
    if (Test-Path $exe) { & $exe uninstall } else { Invoke-Quiet schtasks.exe /Delete /TN OnshiAgent /F }
    Remove-Item -Recurse -Force $InstallDir -ErrorAction SilentlyContinue
    if ($Purge) { Remove-Item -Recurse -Force $DataDir -ErrorAction SilentlyContinue }
    Done 'Onshi Fleet agent removed.'
}

if ($Upgrade) {
    # Server first, agents after (docs/OPERATIONS.md): a newer agent may send
    # fields an older server ignores, never the reverse of what it needs.
    if (-not (Test-Path $exe) -or -not (Test-Path $config)) { Fail "Not installed here ($exe, $config): run the install first." }
    if (-not (Test-Path $UpgradeExe)) { Fail "onshi-agent.exe not found at $UpgradeExe (use -UpgradeExe)." }
    $old = (& $exe --version) -join ' '
    Invoke-Quiet schtasks.exe /End /TN OnshiAgent
    Copy-Item -Force $UpgradeExe $exe
    $new = (& $exe --version) -join ' '
    # Re-registers the task (same SYSTEM principal) and starts it.
    Invoke-Agent --config $config install
    Done "Onshi Fleet agent upgraded: $old -> $new (config, identity and spool kept)"
}

if (-not (Test-Path $SourceExe)) { Fail "onshi-agent.exe not found at $SourceExe (use -SourceExe)." }

# 1. Binary: stop a running agent first so the file can be replaced.
Invoke-Quiet schtasks.exe /End /TN OnshiAgent
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
Copy-Item -Force $SourceExe $exe

# 2. Data folder: SYSTEM and Administrators only (it holds the client key,
#    the fingerprint key and the spool). SIDs, so this works on Japanese Windows.
New-Item -ItemType Directory -Force -Path $state | Out-Null
& icacls.exe $DataDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { Fail "icacls on $DataDir failed" }

# 3. Config (UTF-8 without BOM), kept on updates unless -ForceConfig.
if ($ForceConfig -or -not (Test-Path $config)) {
    $lines = @(
        '# Written by install.ps1; see docs/agent.md for every key.',
        "server = `"$Server`"",
        "site_id = `"$SiteId`"",
        ("state_dir = '{0}'" -f $state),
        'interval = 60',
        '',
        '[probes.network]',
        ('home_visit_nursing = {0}' -f $HomeVisitNursing.IsPresent.ToString().ToLower())
    )
    if ($Maker) { $lines += @('', '[probes.reader]', "maker = `"$Maker`"") }
    [IO.File]::WriteAllText($config, ($lines -join "`r`n") + "`r`n", (New-Object Text.UTF8Encoding $false))
}

# 4. Enrol once (the token is single-use).
if (-not (Test-Path (Join-Path $state 'client.pem'))) {
    if (-not $Token -or -not $CaFingerprint) { Fail 'This PC is not enrolled yet: give -Token and -CaFingerprint.' }
    Invoke-Agent enroll --server $Server --token $Token --ca-fingerprint $CaFingerprint --state-dir $state
}

# 5. A first look, as the support engineer would, and the baseline.
$snapshot = & $exe --config $config probe --format json | ConvertFrom-Json
if ($LASTEXITCODE -ne 0) { Fail 'onshi-agent probe failed' }
Write-Host ("reader: {0} {1}; certificate until {2}; errors: {3}" -f `
    $snapshot.reader.maker, $snapshot.reader.power, $snapshot.certificate.not_after, $snapshot.errors.Count)

# 6. Start-up task as SYSTEM with restart on failure, started now.
Invoke-Agent --config $config install
Done "Onshi Fleet agent installed: $exe (config $config)"
