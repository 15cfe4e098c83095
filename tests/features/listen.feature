Feature: Listening in full
  As a user of swirl
  I want 1.0 listen tasks to read, filter, correlate and count events as the spec says
  So that instances wait for exactly the events they mean

  # `read: envelope` gives the whole CloudEvent: its context attributes
  # (the optional ones and the extensions too) beside its data
  Scenario: Listen Reads The Envelope
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-envelope
      version: '1.0.0'
    do:
      - pingPong:
          fork:
            branches:
              - waitForPing:
                  listen:
                    to:
                      one:
                        with:
                          type: com.example.ping
                          source: https://example.com/pinger
                    read: envelope
              - sendPing:
                  emit:
                    event:
                      with:
                        source: https://example.com/pinger
                        type: com.example.ping
                        subject: table-4
                        region: eu
                        data:
                          hello: world
          output:
            as: '.[0][0] | {specversion, type, source, subject, region, data, timed: (.time | type)}'
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    specversion: '1.0'
    type: com.example.ping
    source: https://example.com/pinger
    subject: table-4
    region: eu
    data:
      hello: world
    timed: string
    """

  # A filter without a source takes events of every source; its other
  # attributes are regular expressions, and `data` a condition on the data
  Scenario: Listen Filters On Other Attributes
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-filter
      version: '1.0.0'
    do:
      - watch:
          fork:
            branches:
              - waitForHot:
                  listen:
                    to:
                      any:
                        - with:
                            type: com.example.reading
                            subject: room-[0-9]+
                            data: ${ .celsius > 38 }
              - sendReadings:
                  do:
                    - cold:
                        emit:
                          event:
                            with:
                              source: https://example.com/a
                              type: com.example.reading
                              subject: room-1
                              data: { celsius: 20 }
                    - hallway:
                        emit:
                          event:
                            with:
                              source: https://example.com/b
                              type: com.example.reading
                              subject: hallway
                              data: { celsius: 40 }
                    - hot:
                        emit:
                          event:
                            with:
                              source: https://example.com/c
                              type: com.example.reading
                              subject: room-12
                              data: { celsius: 39 }
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    - celsius: 39
    """

  # `until` as a condition on the events consumed so far
  Scenario: Listen To Any Until A Condition
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-until-condition
      version: '1.0.0'
    do:
      - gather:
          fork:
            branches:
              - collect:
                  listen:
                    to:
                      any:
                        - with:
                            type: com.example.tick
                      until: (. | length) >= 2
              - tick:
                  for:
                    in: '[1, 2, 3]'
                  do:
                    - send:
                        emit:
                          event:
                            with:
                              source: https://example.com/clock
                              type: com.example.tick
                              data: ${ $item }
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    [ 1, 2 ]
    """

  # `until` as events: those that end the wait are not in the output
  Scenario: Listen To Any Until An Event
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-until-event
      version: '1.0.0'
    do:
      - gather:
          fork:
            branches:
              - collect:
                  listen:
                    to:
                      any:
                        - with:
                            type: com.example.item
                            source: https://example.com/cart
                      until:
                        one:
                          with:
                            type: com.example.checkout
                            source: https://example.com/cart
              - shop:
                  do:
                    - first:
                        emit:
                          event:
                            with:
                              source: https://example.com/cart
                              type: com.example.item
                              data: apple
                    - second:
                        emit:
                          event:
                            with:
                              source: https://example.com/cart
                              type: com.example.item
                              data: pear
                    - pay:
                        emit:
                          event:
                            with:
                              source: https://example.com/cart
                              type: com.example.checkout
                              data: done
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    [ apple, pear ]
    """

  # Correlation without `expect`: the first event's value is what the
  # others of the same listen must carry
  Scenario: Listen To All Correlated Events
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-correlate
      version: '1.0.0'
    do:
      - match:
          fork:
            branches:
              - pair:
                  listen:
                    to:
                      all:
                        - with:
                            type: com.example.temperature
                            source: https://example.com/sensor
                          correlate:
                            room:
                              from: .roomid
                        - with:
                            type: com.example.humidity
                            source: https://example.com/sensor
                          correlate:
                            room:
                              from: .roomid
              - sense:
                  do:
                    - temperature:
                        emit:
                          event:
                            with:
                              source: https://example.com/sensor
                              type: com.example.temperature
                              roomid: kitchen
                              data: 21
                    - otherRoom:
                        emit:
                          event:
                            with:
                              source: https://example.com/sensor
                              type: com.example.humidity
                              roomid: attic
                              data: 80
                    - humidity:
                        emit:
                          event:
                            with:
                              source: https://example.com/sensor
                              type: com.example.humidity
                              roomid: kitchen
                              data: 45
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    [ 21, 45 ]
    """

  # Correlation with `expect`: evaluated on the task's input
  Scenario: Listen For The Expected Correlation
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-expect
      version: '1.0.0'
    do:
      - wait:
          fork:
            branches:
              - paid:
                  listen:
                    to:
                      one:
                        with:
                          type: com.example.paid
                          source: https://example.com/bank
                        correlate:
                          order:
                            from: .data.order
                            expect: ${ .order }
              - pay:
                  do:
                    - other:
                        emit:
                          event:
                            with:
                              source: https://example.com/bank
                              type: com.example.paid
                              data: { order: 7, amount: 1 }
                    - ours:
                        emit:
                          event:
                            with:
                              source: https://example.com/bank
                              type: com.example.paid
                              data: { order: 3, amount: 2 }
          output:
            as: .[0][0].amount
    """
    And given the workflow input is:
    """yaml
    order: 3
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    2
    """
