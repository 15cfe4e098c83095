Feature: Authentications defined once and used by name
  As a user of swirl
  I want to name an authentication in 'use.authentications' and use it in calls
  So that credentials are written once, not in every task

  # The named basic authentication is sent as the call's Authorization header
  Scenario: Call With A Named Basic Authentication
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: named-basic
      version: '1.0.0'
    use:
      authentications:
        httpbin:
          basic:
            username: ada
            password: ${ .password }
    do:
      - login:
          call: http
          with:
            method: get
            endpoint:
              uri: https://httpbin.org/basic-auth/ada/lovelace
              authentication:
                use: httpbin
    """
    And given the workflow input is:
    """yaml
    password: lovelace
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    authenticated: true
    user: ada
    """

  # A wrong password is the server's 401, a communication error
  Scenario: Call With A Named Basic Authentication The Server Refuses
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: named-basic-refused
      version: '1.0.0'
    use:
      authentications:
        httpbin:
          basic:
            username: ada
            password: babbage
    do:
      - login:
          call: http
          with:
            method: get
            endpoint:
              uri: https://httpbin.org/basic-auth/ada/lovelace
              authentication:
                use: httpbin
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    status: 401
    """

  # A named bearer authentication
  Scenario: Call With A Named Bearer Authentication
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: named-bearer
      version: '1.0.0'
    use:
      authentications:
        token:
          bearer:
            token: t0k3n
    do:
      - whoami:
          call: http
          with:
            method: get
            endpoint:
              uri: https://httpbin.org/bearer
              authentication:
                use: token
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    authenticated: true
    token: t0k3n
    """
